"""Start-up: from launching the command to a pool whose every worker is ready.

Ours: `supervisor run` launched to its `pool ready` log line (every worker has
imported its handlers and said READY). Baseline, launched alternately in the
same rounds: a Python process that creates `multiprocessing.Pool(N)` and waits
until each worker's initializer has run; both include the interpreter start.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import time

from bench.common import ROOT, Figure, Server, median, rounds


def _announce(queue: multiprocessing.Queue) -> None:
    queue.put(None)


def pool_ready(workers: int) -> None:
    """The baseline process: a Pool with every worker started; says `ready` on stdout."""
    queue = multiprocessing.Queue()
    with multiprocessing.Pool(workers, initializer=_announce, initargs=(queue,)):
        for _ in range(workers):
            queue.get()
        print("ready", flush=True)


def _ours(workers: int) -> float:
    with Server(workers=workers) as server:
        return server.wait_for(r"pool ready") - server.launched


def _baseline(workers: int) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", f"from bench.startup import pool_ready; pool_ready({workers})"],
        cwd=ROOT, stdout=subprocess.PIPE)
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - started
    proc.wait(10)
    if line.strip() != b"ready":
        raise RuntimeError("the multiprocessing.Pool start-up baseline did not get ready")
    return elapsed


def run(quick: bool = False) -> list[Figure]:
    repeats = 2 if quick else 5
    figures = []
    for workers in (2, 16):
        results = rounds(repeats, {"ours": lambda n=workers: _ours(n),
                                   "pool": lambda n=workers: _baseline(n)})
        ours, base = median(results["ours"]) * 1000, median(results["pool"]) * 1000
        target, passed = ("< 2000 ms", ours < 2000) if workers == 16 else ("", None)
        figures.append(Figure("startup", f"start-up to ready, {workers} workers", ours, "ms",
                              base, f"multiprocessing.Pool({workers})", target, passed,
                              detail={"rounds": repeats}))
    return figures
