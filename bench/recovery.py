"""Recovery: from SIGKILL of a worker to its replacement being ready, over repeated kills.

Ours: the time from `kill` to the master's log line `worker 0 ready`, which it
writes when the new worker's READY message arrives (it can take requests from
then on). Baseline, kill for kill in the same run: `ProcessPoolExecutor(2)`,
which does not replace a dead worker but breaks; its user sees
`BrokenProcessPool` and builds a new executor, ready when it answers again.
(`multiprocessing.Pool` does replace a killed worker, but an idle one dies
holding the task queue's lock, after which the pool never runs another task
and `terminate()` hangs, so it cannot serve as a baseline.)
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from bench.common import Figure, Server, echo, median, percentile

# A pause between kills, so each replacement settles before the next kill.
_SETTLE = 0.05


def _kill_ours(server: Server) -> float:
    victim = server.worker_pids()[0]
    mark = server.mark()
    killed = time.perf_counter()
    os.kill(victim, signal.SIGKILL)
    return server.wait_for(r"worker 0 ready \(pid", start=mark) - killed


def _kill_executor(executor: ProcessPoolExecutor) -> tuple[ProcessPoolExecutor, float]:
    """Kill one of the executor's workers and recover as its user must; return the new one."""
    victim = next(iter(executor._processes))
    killed = time.perf_counter()
    os.kill(victim, signal.SIGKILL)
    while True:
        try:
            executor.submit(echo, b"").result()
        except BrokenProcessPool:
            executor.shutdown(wait=True)
            executor = _fresh_executor()
            continue
        if victim not in executor._processes:
            return executor, time.perf_counter() - killed


def _fresh_executor() -> ProcessPoolExecutor:
    """An executor with both workers started (3.11 starts them on the first submits)."""
    executor = ProcessPoolExecutor(2)
    for future in [executor.submit(echo, b"") for _ in range(2)]:
        future.result()
    return executor


def run(quick: bool = False) -> list[Figure]:
    kills = 6 if quick else 20
    ours, base_times = [], []
    executor = _fresh_executor()
    with Server(workers=2) as server:
        server.ready()
        for _ in range(kills):
            ours.append(_kill_ours(server))
            time.sleep(_SETTLE)
            executor, elapsed = _kill_executor(executor)
            base_times.append(elapsed)
            time.sleep(_SETTLE)
    executor.shutdown()
    ms = 1000.0
    detail = {"kills": kills, "ours_ms": [round(t * ms, 2) for t in ours],
              "executor_ms": [round(t * ms, 2) for t in base_times]}
    p50 = median(ours) * ms
    return [
        Figure("recovery", "recovery p50", p50, "ms", median(base_times) * ms,
               "ProcessPoolExecutor rebuilt p50", "<= 100 ms", p50 <= 100, detail=detail),
        Figure("recovery", "recovery p95", percentile(ours, 95) * ms, "ms",
               percentile(base_times, 95) * ms, "ProcessPoolExecutor rebuilt p95", detail=detail),
    ]
