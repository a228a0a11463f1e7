"""Chunks: `Client.map(chunksize=c)` for c in {1, 8, 64}, against the executors at the same c.

Ours runs in a driver process with default settings and 2 workers; each chunk
travels as one message to one worker and back as one message, each body still a
handler call of its own. Larger chunks get more bodies, so every chunk size runs
for at least 1,024 messages or 4,096 bodies: at 8,192 bodies a
chunk of 64 was 128 messages in 40 ms, where one stall of the host moved the
figure by a quarter. The baselines, in the same rounds from the harness
process: `ProcessPoolExecutor(2).map(chunksize=c)` and `multiprocessing.Pool(2).imap
(chunksize=c)`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from bench.common import TICK_BODY, Figure, Server, echo, median, rounds
from bench.drivers import Drivers
from bench.throughput import _timed_rate

CHUNKS = (1, 8, 64)
# Each run sends BODIES bodies, or MESSAGES chunks if that is more.
BODIES = 4096
MESSAGES = 1024


def run(quick: bool = False) -> list[Figure]:
    scale, repeats = (2, 2) if quick else (1, 5)
    counts = {c: max(BODIES, MESSAGES * c) // scale for c in CHUNKS}
    bodies = [TICK_BODY] * max(counts.values())
    with contextlib.ExitStack() as stack:
        executor = stack.enter_context(ProcessPoolExecutor(2))
        pool = stack.enter_context(multiprocessing.Pool(2))
        server = stack.enter_context(Server(workers=2))
        drivers = stack.enter_context(Drivers())
        server.ready()
        steps = {}
        for c, count in counts.items():
            steps[f"ours_{c}"] = lambda c=c, count=count: drivers.rate(
                "public", count, 1, server.endpoint, "echo", TICK_BODY, chunksize=c)
            steps[f"ppe_{c}"] = lambda c=c, count=count: _timed_rate(
                lambda n: list(executor.map(echo, bodies[:n], chunksize=c)), count)
            steps[f"pool_{c}"] = lambda c=c, count=count: _timed_rate(
                lambda n: list(pool.imap(echo, bodies[:n], chunksize=c)), count)
        rounds(1, steps)
        results = {name: median(values) for name, values in rounds(repeats, steps).items()}
    figures = []
    for c in CHUNKS:
        detail = {"requests": counts[c], "rounds": repeats}
        ours = results[f"ours_{c}"]
        target = ">= 1.5x" if c > 1 else ""
        figures.append(Figure("chunks", f"Client.map(chunksize={c})", ours, "req/s",
                              results[f"ppe_{c}"], f"ProcessPoolExecutor.map(chunksize={c})",
                              target, ours >= 1.5 * results[f"ppe_{c}"] if c > 1 else None,
                              better="higher", detail=detail))
        figures.append(Figure("chunks", f"Client.map(chunksize={c})", ours, "req/s",
                              results[f"pool_{c}"], f"Pool.imap(chunksize={c})",
                              better="higher", detail=detail))
    return figures
