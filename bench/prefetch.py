"""What `pool.pipeline` K costs and buys, for K in {1, 2, 4, 8}: serial latency, utilisation
with a 1 ms handler, and head-of-line blocking in a mixed workload.

- Serial: `Client.exec`, one request at a time; p50 and p99 per round.
- Utilisation: `Client.map` over a handler that sleeps 1 ms, 2 workers; the rate over
  the rate of the same handler called back to back in 2 bare processes (the most 2
  processes can do), measured in the same rounds. The standard pools run the same
  handler in the same rounds (`ProcessPoolExecutor(2).map`, `Pool(2).imap`): what
  passing each call to another process costs them on this machine.
- Mixed: one client keeps 16 requests in flight, 1 % of them to a 50 ms handler and
  the rest to echo; the echo requests' p50 and p99, the head-of-line blocking a slow
  request may cause. The default's p99 is compared with K=1's.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from bench.common import TICK_BODY, Figure, Server, median, percentile, rounds
from bench.drivers import Drivers
from bench.handlers import sleep_1ms
from bench.throughput import DEFAULT, PIPELINES, _timed_rate, label, pool_section
from supervisor import Client, Payload

_SPAWN = multiprocessing.get_context("spawn")
MIXED_WINDOW = 16
SLOW_SHARE = 0.01


def _bare(count: int, conn: Any) -> None:
    conn.send(None)  # started: the harness times from when both are
    conn.recv()
    for _ in range(count):
        sleep_1ms(Payload(TICK_BODY))
    conn.send(time.perf_counter())


def _bare_rate(count: int) -> float:
    """`count` calls of the 1 ms handler split over 2 bare processes, back to back."""
    pipes, processes = [], []
    for _ in range(2):
        parent, child = _SPAWN.Pipe()
        process = _SPAWN.Process(target=_bare, args=(count // 2, child))
        process.start()
        pipes.append(parent)
        processes.append(process)
    for pipe in pipes:
        pipe.recv()
    started = time.perf_counter()
    for pipe in pipes:
        pipe.send(None)
    ends = [pipe.recv() for pipe in pipes]
    for process in processes:
        process.join(5)
    return count // 2 * 2 / (max(ends) - started)


def _sleep_1ms(body: bytes) -> bytes:
    """The standard pools' task: the same handler, on bytes (module level, so it pickles)."""
    return sleep_1ms(Payload(body))


def _serial(client: Client, count: int) -> list[float]:
    clock, samples = time.perf_counter, []
    for _ in range(count):
        started = clock()
        client.exec("echo", TICK_BODY)
        samples.append(clock() - started)
    return samples


def _map_rate(client: Client, handler: str, count: int) -> float:
    started = time.perf_counter()
    for _ in client.map(handler, [TICK_BODY] * count):
        pass
    return count / (time.perf_counter() - started)


def run(quick: bool = False) -> list[Figure]:
    serial_count, util_count, mixed_count, repeats = \
        (200, 400, 800, 2) if quick else (500, 800, 1500, 3)
    with contextlib.ExitStack() as stack:
        executor = stack.enter_context(ProcessPoolExecutor(2))
        pool = stack.enter_context(multiprocessing.Pool(2))
        executor.submit(_sleep_1ms, TICK_BODY).result()  # forked before any ZeroMQ context
        servers = {k: stack.enter_context(Server(workers=2, pool=pool_section(k)))
                   for k in PIPELINES}
        drivers = stack.enter_context(Drivers())
        clients = {}
        for k, server in servers.items():
            server.ready()
            clients[k] = stack.enter_context(Client(server.endpoint))
        steps: dict[str, Any] = {
            "bare": lambda: _bare_rate(util_count),
            "ppe": lambda: _timed_rate(
                lambda n: list(executor.map(_sleep_1ms, [TICK_BODY] * n)), util_count),
            "pool": lambda: _timed_rate(
                lambda n: list(pool.imap(_sleep_1ms, [TICK_BODY] * n)), util_count)}
        for k, server in servers.items():
            steps[f"serial_{k}"] = lambda k=k: _serial(clients[k], serial_count)
            steps[f"util_{k}"] = lambda k=k: _map_rate(clients[k], "sleep1ms", util_count)
            steps[f"mixed_{k}"] = lambda s=server: drivers.call(
                "mixed", s.endpoint, mixed_count, MIXED_WINDOW, SLOW_SHARE)
        rounds(1, steps)
        results = rounds(repeats, steps)
    return _figures(results, repeats)


def _figures(results: dict[str, list[Any]], repeats: int) -> list[Figure]:
    figures, ms = [], 1000.0
    bare = median(results["bare"])
    detail = {"rounds": repeats}
    for k in PIPELINES:
        serial = results[f"serial_{k}"]
        p50 = median(percentile(s, 50) for s in serial) * ms
        p99 = median(percentile(s, 99) for s in serial) * ms
        util = median(results[f"util_{k}"])
        figures += [
            Figure("prefetch", f"serial latency p50, {label(k)}", p50, "ms", detail=detail),
            Figure("prefetch", f"serial latency p99, {label(k)}", p99, "ms", p50,
                   "its own p50", detail=detail),
            Figure("prefetch", f"utilisation, 1 ms handler, {label(k)}", util, "req/s", bare,
                   "2 bare processes back to back", ">= 0.95x" if k == DEFAULT else "",
                   util >= 0.95 * bare if k == DEFAULT else None, better="higher",
                   detail=detail)]
    util = median(results[f"util_{DEFAULT}"])
    for name, side in (("ppe", "ProcessPoolExecutor(2).map"), ("pool", "Pool(2).imap")):
        rate = median(results[name])
        figures += [
            Figure("prefetch", f"utilisation, 1 ms handler, {side}", rate, "req/s", bare,
                   "2 bare processes back to back", better="higher", detail=detail),
            Figure("prefetch", f"utilisation, 1 ms handler, {label(DEFAULT)}", util, "req/s",
                   rate, f"{side}, same handler", better="higher", detail=detail)]
    p99_of = {k: median(percentile(s, 99) for s in results[f"mixed_{k}"]) * ms for k in PIPELINES}
    for k in PIPELINES:
        p50 = median(percentile(s, 50) for s in results[f"mixed_{k}"]) * ms
        figures.append(Figure("prefetch", f"mixed, echo p50, {label(k)}", p50, "ms",
                              detail={**detail, "slow_share": SLOW_SHARE,
                                      "in_flight": MIXED_WINDOW}))
        default = k == DEFAULT
        figures.append(Figure("prefetch", f"mixed, echo p99, {label(k)}", p99_of[k], "ms",
                              p99_of[1], "echo p99 with K=1", "<= 1.5x" if default else "",
                              p99_of[k] <= 1.5 * p99_of[1] if default else None,
                              detail=detail))
    return figures
