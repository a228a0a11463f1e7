"""Handlers for the cluster tests: every singleton tick appends one line to a shared log."""

from __future__ import annotations

import json
import os
import time


def log_tick(payload):
    cluster = payload.context.get("cluster") or {}
    line = json.dumps({"node": cluster.get("node"), "slot": cluster.get("slot"),
                       "tick": payload.json()["tick"], "epoch": cluster.get("epoch"),
                       "degraded": bool(cluster.get("degraded")),
                       "due": payload.context.get("scheduledAt"), "at": time.time()})
    fd = os.open(os.environ["ZS_TICK_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode() + b"\n")  # one write: appends never interleave
    finally:
        os.close(fd)
    return "ok"
