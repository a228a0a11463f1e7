"""Throughput: tick-sized requests, 2 workers, from 1 and from 4 client processes, for each
`pool.pipeline` K in {1, 2, 4, 8} (the default is one of them).

Each K is a master of its own, all up at once so every round measures them all
side by side: through the public `Client.map` and through raw DEALER sockets
speaking wire version 2 with WINDOW requests in flight. The baselines run in the
same rounds: `ProcessPoolExecutor(2).map` and `multiprocessing.Pool(2).imap
(chunksize=1)` (an executor belongs to the process that made it, so both are
driven from one process), and the ZeroMQ floor, a C `zmq.proxy` with 2 echo
workers, driven by the same client processes as ours.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from bench.common import TICK_BODY, Figure, Server, echo, median, rounds
from bench.drivers import PROCESSES, WINDOW, Drivers
from bench.floor import Floor
from supervisor.config.model import PoolConfig

PIPELINES = (1, 2, 4, 8)
DEFAULT = PoolConfig().pipeline


def pool_section(pipeline: int, **more: Any) -> dict[str, Any]:
    return {"num_workers": 2, "destroy_timeout": "10s", "pipeline": pipeline, **more}


def _timed_rate(run: Any, count: int) -> float:
    started = time.perf_counter()
    run(count)
    return count / (time.perf_counter() - started)


def label(pipeline: int) -> str:
    return f"K={pipeline}" + (" (default)" if pipeline == DEFAULT else "")


def run(quick: bool = False) -> list[Figure]:
    """Every side in each round; medians over the rounds; ratios ours / baseline."""
    count, repeats = (2000, 2) if quick else (5000, 3)
    with contextlib.ExitStack() as stack:
        executor = stack.enter_context(ProcessPoolExecutor(2))
        pool = stack.enter_context(multiprocessing.Pool(2))
        servers = {k: stack.enter_context(Server(workers=2, pool=pool_section(k)))
                   for k in PIPELINES}
        floor = stack.enter_context(Floor(workers=2))
        drivers = stack.enter_context(Drivers())
        for server in servers.values():
            server.ready()

        def steps(count: int) -> dict[str, Any]:
            bodies = [TICK_BODY] * count
            made = {"ppe": lambda: _timed_rate(lambda n: list(executor.map(echo, bodies)),
                                               count),
                    "pool": lambda: _timed_rate(
                        lambda n: list(pool.imap(echo, bodies, chunksize=1)), count)}
            for n in (1, PROCESSES):
                made[f"floor_{n}"] = (lambda n=n: drivers.rate(
                    "raw", count, n, floor.endpoint, b"", TICK_BODY, envelope=False))
                for k, server in servers.items():
                    made[f"public_{k}_{n}"] = (lambda n=n, s=server: drivers.rate(
                        "public", count, n, s.endpoint, "echo", TICK_BODY))
                    made[f"raw_{k}_{n}"] = (lambda n=n, s=server: drivers.rate(
                        "raw", count, n, s.endpoint, b"echo", TICK_BODY))
            return made

        rounds(1, steps(500))  # warm-up: workers connected, handlers measured, caches settled
        results = {name: median(values) for name, values in rounds(repeats, steps(count)).items()}
    return _figures(results, {"requests": count, "rounds": repeats, "window": WINDOW})


def _figures(results: dict[str, float], detail: dict[str, Any]) -> list[Figure]:
    figures = []
    for n in (1, PROCESSES):
        clients = f"{n} client{'s' if n > 1 else ''}"
        ours = results[f"public_{DEFAULT}_{n}"]
        for base, base_name, minimum in (
                ("ppe", "ProcessPoolExecutor.map", 2.0),
                ("pool", "Pool.imap(chunksize=1)", 0.6),
                (f"floor_{n}", "ZeroMQ proxy floor", None)):
            target = "" if minimum is None else f">= {minimum:g}x" + \
                (" (stretch)" if base == "pool" else "")
            figures.append(Figure(
                "throughput", f"throughput, Client.map, {clients}", ours, "req/s",
                results[base], base_name, target,
                None if minimum is None else ours >= minimum * results[base],
                better="higher", detail=detail))
        for k in PIPELINES:
            for side, how in (("public", "Client.map"), ("raw", "raw sockets")):
                figures.append(Figure(
                    "throughput", f"throughput, {how}, {clients}, {label(k)}",
                    results[f"{side}_{k}_{n}"], "req/s", results["ppe"],
                    "ProcessPoolExecutor.map", better="higher", detail=detail))
    return figures
