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


def sleep_1ms(payload: Payload) -> bytes:
    """A handler that waits 1 ms (I/O-like): utilisation shows the gaps between requests."""
    time.sleep(0.001)
    return payload.body


def sleep_50ms(payload: Payload) -> bytes:
    """The slow handler of the mixed workload."""
    time.sleep(0.050)
    return payload.body


def rpc_echo(request):
    """The Centrifugo benchmark's RPC handler: the data back, as the typed result."""
    from supervisor.centrifugo import RPCResult

    return RPCResult(data=request.data)
