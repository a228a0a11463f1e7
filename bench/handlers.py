"""Handlers the benchmark's masters run (importable from the repository root, like `workers/`)."""

from __future__ import annotations

import os
import time

from supervisor import Payload

_log = None


def record_tick(payload: Payload) -> str:
    """Write `tick scheduledAt arrival` to $BENCH_TICK_LOG, arrival read before anything else."""
    global _log
    arrival = time.time()
    if _log is None:
        _log = open(os.environ["BENCH_TICK_LOG"], "a", buffering=1)  # noqa: SIM115
    tick = payload.json()["tick"]
    _log.write(f"{tick} {payload.context['scheduledAt']!r} {arrival!r}\n")
    return "OK"


def rpc_echo(request):
    """The Centrifugo benchmark's RPC handler: the data back, as the typed result."""
    from supervisor.centrifugo import RPCResult

    return RPCResult(data=request.data)
