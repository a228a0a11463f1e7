"""Idle cost: what the master costs while nothing happens (2 workers, no schedules).

Over the same seconds the harness watches, side by side, an idle parent of
`ProcessPoolExecutor(2)` and one of `multiprocessing.Pool(2)`, each in a process
of its own after one task. CPU % is user+system time over wall time; wake-ups
are voluntary context switches summed over every thread of the process (the
ZeroMQ I/O threads included), since each is the process going back to sleep
after being woken.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import psutil

from bench.common import ROOT, Figure, Server

SETTLE = 1.0


def hold(kind: str) -> None:
    """A baseline process: make the executor, run one task, say `ready`, then do nothing."""
    if kind == "ppe":
        executor = ProcessPoolExecutor(2)
        executor.submit(abs, 1).result()
    else:
        pool = multiprocessing.Pool(2)
        pool.apply(abs, (1,))
    print("ready", flush=True)
    signal.pause()


def _switches(process: psutil.Process) -> int:
    total = 0
    for thread in process.threads():
        try:
            total += psutil.Process(thread.id).num_ctx_switches().voluntary
        except psutil.NoSuchProcess:
            continue
    return total


def _sample(process: psutil.Process) -> tuple[float, int]:
    times = process.cpu_times()
    return times.user + times.system, _switches(process)


def run(quick: bool = False) -> list[Figure]:
    duration = 3.0 if quick else 10.0
    holders = {kind: subprocess.Popen(
        [sys.executable, "-c", f"from bench.idle import hold; hold({kind!r})"],
        cwd=ROOT, stdout=subprocess.PIPE, start_new_session=True) for kind in ("ppe", "pool")}
    try:
        for proc in holders.values():
            proc.stdout.readline()
        with Server(workers=2) as server:
            server.ready()
            time.sleep(SETTLE)
            watched = {"ours": psutil.Process(server.pid),
                       **{kind: psutil.Process(p.pid) for kind, p in holders.items()}}
            before = {name: _sample(p) for name, p in watched.items()}
            started = time.perf_counter()
            time.sleep(duration)
            after = {name: _sample(p) for name, p in watched.items()}
            elapsed = time.perf_counter() - started
            rss = {name: p.memory_info().rss / 2**20 for name, p in watched.items()}
    finally:
        for proc in holders.values():
            os.killpg(proc.pid, signal.SIGKILL)  # the executor's workers too, not just its parent
            proc.wait(5)
    cpu = {name: (after[name][0] - before[name][0]) / elapsed * 100 for name in watched}
    wakeups = {name: (after[name][1] - before[name][1]) / elapsed for name in watched}
    detail = {"seconds": round(elapsed, 2)}
    figures = []
    for base, base_name in (("ppe", "idle ProcessPoolExecutor(2) parent"),
                            ("pool", "idle multiprocessing.Pool(2) parent")):
        first = base == "ppe"
        figures += [
            Figure("idle", "idle master CPU", cpu["ours"], "%", cpu[base], base_name,
                   "< 1 %" if first else "", cpu["ours"] < 1.0 if first else None,
                   detail=detail),
            Figure("idle", "idle master wake-ups", wakeups["ours"], "/s", wakeups[base],
                   base_name, "< 2 /s" if first else "", wakeups["ours"] < 2.0 if first else None,
                   detail=detail),
            Figure("idle", "idle master RSS", rss["ours"], "MB", rss[base], base_name,
                   "< 40 MB" if first else "", rss["ours"] < 40.0 if first else None,
                   detail=detail),
        ]
    return figures
