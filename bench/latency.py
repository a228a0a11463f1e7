"""Serial latency: one tick-sized request at a time, p50 and p99 of the round trip.

Ours goes through `supervisor.Client.exec` (what an application calls); the
baselines are `ProcessPoolExecutor.submit().result()` and a plain ZeroMQ
REQ/REP round trip through one C broker to one Python echo worker. The same
round trip through a broker written in Python (`bench.floor`, recv/send and
nothing else) is the least a Python master can cost: its ratio to the C broker
is the part of the C-floor target no Python broker can meet.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import zmq

from bench.common import TICK_BODY, Figure, Server, echo, median, percentile, rounds
from bench.floor import Floor


def _samples(call: Callable[[], object], count: int) -> list[float]:
    """Seconds per call, each call timed on its own."""
    clock = time.perf_counter
    samples = []
    for _ in range(count):
        started = clock()
        call()
        samples.append(clock() - started)
    return samples


def run(quick: bool = False) -> list[Figure]:
    """Many short rounds alternate the sides, so a burst of the machine's noise lands on
    every side alike; p50 is the median of the rounds' p50s, p99 is over every sample."""
    count, repeats = (100, 10) if quick else (200, 24)
    with ProcessPoolExecutor(2) as executor, Server(workers=2) as server, \
            Floor(workers=1, kind="rep") as floor, \
            Floor(workers=1, kind="rep", broker="python") as python_floor:
        executor.submit(echo, b"").result()  # workers forked before any ZeroMQ context exists
        from supervisor import Client

        server.ready()
        context = zmq.Context()
        req, python_req = context.socket(zmq.REQ), context.socket(zmq.REQ)
        req.connect(floor.endpoint)
        python_req.connect(python_floor.endpoint)

        def zmq_round_trip() -> None:
            req.send(TICK_BODY)
            req.recv()

        def python_round_trip() -> None:
            python_req.send(TICK_BODY)
            python_req.recv()

        with Client(server.endpoint, context=context) as client:
            steps = {
                "ours": lambda: _samples(lambda: client.exec("echo", TICK_BODY), count),
                "ppe": lambda: _samples(lambda: executor.submit(echo, TICK_BODY).result(), count),
                "zmq": lambda: _samples(zmq_round_trip, count),
                "python": lambda: _samples(python_round_trip, count),
            }
            rounds(1, steps)
            results = rounds(repeats, steps)
        req.close(0)
        python_req.close(0)
        context.term()
    p50 = {name: median(percentile(s, 50) for s in values) for name, values in results.items()}
    p99 = {name: percentile([x for s in values for x in s], 99)
           for name, values in results.items()}
    detail = {"requests": count, "rounds": repeats}
    ms = 1000.0
    return [
        Figure("latency", "serial latency p50", p50["ours"] * ms, "ms", p50["ppe"] * ms,
               "ProcessPoolExecutor.submit", "<= 1.2x", p50["ours"] <= 1.2 * p50["ppe"],
               detail=detail),
        Figure("latency", "serial latency p50", p50["ours"] * ms, "ms", p50["zmq"] * ms,
               "ZeroMQ REQ/REP via broker", "<= 1.3x", p50["ours"] <= 1.3 * p50["zmq"],
               detail=detail),
        Figure("latency", "serial latency p50", p50["ours"] * ms, "ms", p50["python"] * ms,
               "ZeroMQ REQ/REP via a Python broker", detail=detail),
        Figure("latency", "Python broker floor p50", p50["python"] * ms, "ms",
               p50["zmq"] * ms, "ZeroMQ REQ/REP via broker", detail=detail),
        Figure("latency", "serial latency p99", p99["ours"] * ms, "ms", p50["ours"] * ms,
               "our own p50", "<= 3x", p99["ours"] <= 3 * p50["ours"], detail=detail),
        Figure("latency", "serial latency p99", p99["ours"] * ms, "ms", p99["ppe"] * ms,
               "ProcessPoolExecutor.submit p99", detail=detail),
        Figure("latency", "serial latency p99", p99["ours"] * ms, "ms", p99["zmq"] * ms,
               "ZeroMQ REQ/REP p99", detail=detail),
        # The tail the machine gives any round trip: each baseline's p99 against its own p50.
        Figure("latency", "ProcessPoolExecutor.submit p99", p99["ppe"] * ms, "ms",
               p50["ppe"] * ms, "its own p50", detail=detail),
        Figure("latency", "ZeroMQ REQ/REP floor p99", p99["zmq"] * ms, "ms", p50["zmq"] * ms,
               "its own p50", detail=detail),
    ]
