"""`status` under a flood: a client sends 1,000,000 requests and never reads an answer.

Ours: a probe asks the control socket for `status` every 10 ms from the first request
until the master has taken every one of them (run, refused `QueueFull`, or queued);
the longest answer delay is the figure. A 100 ms ticker runs throughout, and the
ticks it loses to `no_free_worker` are reported. Baseline, same master, same probe:
the longest delay while the master idles for as long. The test suite holds the same
flood to its bounds (tests/integration/test_limits.py).
"""

from __future__ import annotations

import multiprocessing
import time

import zmq

from bench.common import Figure, Server
from bench.stall import StallProbe
from supervisor import wire

COUNT = 1_000_000


def never_reading(endpoint: str, count: int, close) -> None:
    """The client that never reads: every request sent, then held open until told."""
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.sndhwm = 0
    sock.rcvhwm = 1
    sock.linger = 0
    sock.connect(endpoint)
    send, request = sock.send, wire.request
    for i in range(count):
        send(request(wire.CALL, i + 1, b"echo", b"flood"))
    close.wait(300)
    sock.close()
    context.term()


def taken(status: dict) -> int:
    """Requests the master has dealt with: run, refused QueueFull, or queued."""
    requests = status["requests"]
    return requests.get("ok", 0) + requests.get("QueueFull", 0) + status["queue"]


def run(quick: bool = False) -> list[Figure]:
    count = COUNT // 10 if quick else COUNT
    spawn = multiprocessing.get_context("spawn")
    with Server(workers=2, ticker={"interval": "100ms", "handler": "echo"}) as server:
        server.ready()
        control = f"ipc://{server.run_dir}/control.sock"
        close = spawn.Event()
        flood = spawn.Process(target=never_reading, args=(server.endpoint, count, close))
        try:
            with StallProbe(control, "status") as busy:
                started = time.monotonic()
                flood.start()
                deadline = started + 300
                while taken(status := server.control("status")) < count - 64:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the flood was not taken in time: {status}")
                    time.sleep(0.1)
                took = time.monotonic() - started
        finally:
            close.set()
            flood.join(10)
            if flood.is_alive():
                flood.kill()
        ticks = status["schedules"]["ticker"]
        with StallProbe(control, "status") as idle:
            time.sleep(took)
    ordered = sorted(busy.delays)
    return [Figure("flood", f"status during a flood of {count:,} unread requests",
                   busy.longest * 1000, "ms", idle.longest * 1000,
                   "the same master idle, same probe", "< 100 ms", busy.longest < 0.100,
                   detail={"seconds": round(took, 1), "probes": len(ordered),
                           "p95_ms": round(ordered[int(len(ordered) * 0.95)] * 1000, 1)
                           if ordered else None,
                           "unanswered": busy.unanswered,
                           "ticks_no_free_worker": ticks["skipped"]["no_free_worker"],
                           "ticks_delivered": ticks["delivered"]})]
