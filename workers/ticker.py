"""The ticker's handler: logs each tick it receives, at debug level (`server.log.level: debug`
shows them; at info the log keeps to what changes)."""

import logging

from supervisor import Payload

log = logging.getLogger("workers.ticker")


def on_tick(payload: Payload) -> str:
    tick = payload.json()["tick"]
    last = payload.context.get("lastTick")
    log.debug("tick %d (schedule %s, previous at %s)", tick, payload.context.get("schedule"), last)
    return "OK"
