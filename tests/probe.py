"""A probe that pings a master's control socket every 10 ms and keeps each answer's delay.

The longest delay is how long the master's loop stalled while the probe ran: a
loop that never blocks answers a ping within a millisecond or two.
"""

from __future__ import annotations

import json
import threading
import time

import zmq

INTERVAL = 0.010


class StallProbe:
    def __init__(self, control_endpoint: str) -> None:
        self.endpoint = control_endpoint
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
        request = json.dumps({"command": "ping"}).encode()
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
