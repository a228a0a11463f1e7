"""Throughput: tick-sized requests, 2 workers, many in flight, from 1 and from 4 client processes.

Our master is driven by raw DEALER sockets speaking `supervisor.wire`, each
client keeping `WINDOW` requests in flight. The baselines run in the same
round: `ProcessPoolExecutor(2).map` and `multiprocessing.Pool(2).imap(chunksize=1)`
(an executor belongs to the process that made it, so both are driven from one
process) and the ZeroMQ floor, a C proxy with 2 echo workers, driven by the
same client processes as ours, and the one-at-a-time floor, a bare Python
broker that, like our master, hands each worker one request at a time.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import zmq

from bench.common import TICK_BODY, Figure, Server, echo, median, rounds
from bench.floor import Floor

WINDOW = 64
CLIENTS = 4
_SPAWN = multiprocessing.get_context("spawn")


def _pipelined(endpoint: str, prefix: list[bytes], count: int, start_at: float) -> tuple:
    """Send `count` requests keeping WINDOW in flight; return (start, end) in perf_counter time."""
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.sndhwm = sock.rcvhwm = 0
    sock.linger = 0
    sock.connect(endpoint)
    ids = [i.to_bytes(8, "big") for i in range(count)]
    send, recv = sock.send_multipart, sock.recv_multipart
    while time.perf_counter() < start_at:
        time.sleep(0.0005)
    start = time.perf_counter()
    sent = min(WINDOW, count)
    for req_id in ids[:sent]:
        send([req_id, *prefix])
    failures = 0
    for _ in range(count):
        reply = recv()
        failures += len(reply) == 3 and reply[1] != b"ok"
        if sent < count:
            send([ids[sent], *prefix])
            sent += 1
    end = time.perf_counter()
    sock.close()
    context.term()
    if failures:
        raise RuntimeError(f"{failures} of {count} requests failed")
    return start, end


def _client_main(conn: Any) -> None:
    """A persistent client process: runs one pipelined burst per command from the harness."""
    while (command := conn.recv()) is not None:
        conn.send(_pipelined(*command))


class Clients:
    """CLIENTS processes started once, so no measurement pays for a process start."""

    def __init__(self) -> None:
        self.conns, self.processes = [], []
        for _ in range(CLIENTS):
            parent, child = _SPAWN.Pipe()
            process = _SPAWN.Process(target=_client_main, args=(child,), daemon=True)
            process.start()
            self.conns.append(parent)
            self.processes.append(process)

    def rate(self, endpoint: str, prefix: list[bytes], total: int, clients: int) -> float:
        """Requests per second over `clients` processes sharing `total` requests."""
        start_at = time.perf_counter() + 0.05
        for conn in self.conns[:clients]:
            conn.send((endpoint, prefix, total // clients, start_at))
        spans = [conn.recv() for conn in self.conns[:clients]]
        return (total // clients * clients) / (max(end for _, end in spans) - start_at)

    def close(self) -> None:
        for conn in self.conns:
            conn.send(None)
        for process in self.processes:
            process.join(5)


def _timed_rate(run: Any, count: int) -> float:
    started = time.perf_counter()
    run(count)
    return count / (time.perf_counter() - started)


def run(quick: bool = False) -> list[Figure]:
    """Measure every side in each round; medians over the rounds; ratios ours / baseline."""
    count, repeats = (4000, 3) if quick else (12000, 5)
    bodies = [TICK_BODY] * count
    ours_prefix, floor_prefix = [b"echo", TICK_BODY], [TICK_BODY]
    with ProcessPoolExecutor(2) as executor, multiprocessing.Pool(2) as pool, \
            Server(workers=2) as server, Floor(workers=2) as floor, \
            Floor(workers=2, kind="lru") as lru:
        clients = Clients()
        try:
            server.ready()
            steps = {
                "ours_1": lambda: clients.rate(server.endpoint, ours_prefix, count, 1),
                "ours_4": lambda: clients.rate(server.endpoint, ours_prefix, count, CLIENTS),
                "floor_1": lambda: clients.rate(floor.endpoint, floor_prefix, count, 1),
                "floor_4": lambda: clients.rate(floor.endpoint, floor_prefix, count, CLIENTS),
                "lru_1": lambda: clients.rate(lru.endpoint, ours_prefix, count, 1),
                "lru_4": lambda: clients.rate(lru.endpoint, ours_prefix, count, CLIENTS),
                "ppe": lambda: _timed_rate(lambda n: list(executor.map(echo, bodies[:n])), count),
                "pool": lambda: _timed_rate(
                    lambda n: list(pool.imap(echo, bodies[:n], chunksize=1)), count),
            }
            rounds(1, steps)  # warm-up: workers connected, caches and allocators settled
            results = {name: median(values) for name, values in rounds(repeats, steps).items()}
        finally:
            clients.close()
    figures = []
    for clients_n in (1, CLIENTS):
        ours = results[f"ours_{clients_n}"]
        label = f"throughput, {clients_n} client{'s' if clients_n > 1 else ''}"
        for base, base_name, minimum in (("ppe", "ProcessPoolExecutor.map", 2.0),
                                         ("pool", "Pool.imap(chunksize=1)", 1.0),
                                         (f"floor_{clients_n}", "ZeroMQ proxy floor", None),
                                         (f"lru_{clients_n}", "one-at-a-time Python floor",
                                          None)):
            ratio = ours / results[base]
            target = "" if minimum is None else f">= {minimum:g}x"
            stretch = base == "pool"
            figures.append(Figure(
                "throughput", label, ours, "req/s", results[base], base_name,
                target + (" (stretch)" if stretch else ""),
                None if minimum is None else ratio >= minimum, better="higher",
                detail={"requests": count, "rounds": repeats, "window": WINDOW}))
    return figures
