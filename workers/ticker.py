"""The ticker's handler: logs each tick it receives, at debug level (`server.log.level: debug`
shows them; at info the log keeps to what changes)."""

import logging

from supervisor import Payload

log = logging.getLogger("workers.ticker")


def on_tick(payload: Payload) -> str:
    tick = payload.json()["tick"]  # null for a run asked for with `supervisor tick NAME`
    last = payload.context.get("lastTick")
    what = "manual tick" if payload.context.get("manual") else f"tick {tick}"
    log.debug("%s (schedule %s, previous at %s)", what, payload.context.get("schedule"), last)
    return "OK"
