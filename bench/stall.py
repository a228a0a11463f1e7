"""Loop stalls: a probe pings the control socket every 10 ms while the pool grows to 100
workers and while 100 workers are replaced; the longest answer delay is the longest stall.

Ours: the probe's longest delay over `scale` to 100 and a `reset` of the 100, each waited
for until every worker is ready. Baseline, same master, same probe: the longest delay while
the master idles for as long, i.e. what the machine itself adds. The test suite uses the
same probe (tests/integration/test_spawning.py).
"""

from __future__ import annotations

import json
import threading
import time

import zmq

from bench.common import Figure, Server

INTERVAL = 0.010
WORKERS = 100


class StallProbe:
    """Sends `command` to the control socket every 10 ms and keeps each answer's delay."""

    def __init__(self, control_endpoint: str, command: str = "ping") -> None:
        self.endpoint = control_endpoint
        self.command = command
        self.delays: list[float] = []
        self.unanswered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StallProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(10)

    @property
    def longest(self) -> float:
        return max(self.delays, default=0.0)

    def _run(self) -> None:
        context = zmq.Context()
        sock = context.socket(zmq.DEALER)
        sock.linger = 0
        sock.connect(self.endpoint)
        request = json.dumps({"command": self.command}).encode()
        try:
            while not self._stop.is_set():
                sent = time.monotonic()
                sock.send(request)
                if sock.poll(10_000):
                    sock.recv()
                    self.delays.append(time.monotonic() - sent)
                else:
                    self.unanswered += 1
                self._stop.wait(max(0.0, INTERVAL - (time.monotonic() - sent)))
        finally:
            sock.close()
            context.term()


def _until(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("the pool did not settle in time")
        time.sleep(0.1)


def run(quick: bool = False) -> list[Figure]:
    with Server(workers=2) as server:
        server.ready()
        control = f"ipc://{server.run_dir}/control.sock"
        with StallProbe(control) as busy:
            started = time.monotonic()
            server.control("scale", workers=WORKERS)
            _until(lambda: server.control("status")["pool"]["ready"] == WORKERS)
            server.control("reset")
            _until(lambda: server.control("status")["state"] == "running" and
                   server.control("status")["pool"]["processes"] == WORKERS)
            took = time.monotonic() - started
        with StallProbe(control) as idle:
            time.sleep(took)
    return [Figure("stall", f"loop stall: scale to {WORKERS} and reset {WORKERS}",
                   busy.longest * 1000, "ms", idle.longest * 1000,
                   "the same master idle, same probe", "< 50 ms", busy.longest < 0.050,
                   detail={"seconds": round(took, 1), "pings": len(busy.delays),
                           "unanswered": busy.unanswered})]
