"""A client over several masters: round-robin, back-off from a down one, retry only what never ran.

`Client([e1, e2, e3])` returns one of these (handing over its own class, so this module
never imports the client). It keeps one single-endpoint client per master, with ZeroMQ
heartbeats so that a hung master (stopped, partitioned) drops its connection within
three heartbeats instead of holding requests. Requests go round-robin
to the masters whose handshake succeeded; a master that failed is left alone for a
back-off that doubles up to a cap.

A request is retried on another master only when it surely did not run there: it was
never sent (`NotRunning` before sending), or the master refused it without running it
(`NotRunning`, `QueueFull`, `NoFreeWorkers`). When it may have run (`ExecTimeout`,
`WorkerLost`, `ConnectionLost`) the caller gets the typed error, unless it says the
request is `idempotent`. After a timeout or a dropped connection the socket to that
master is replaced, so a master that resumes never receives a request sent long ago.
"""

from __future__ import annotations

import time
from typing import Any

import zmq

from supervisor.errors import (
    ConnectionLost,
    ExecTimeout,
    NoFreeWorkers,
    NotRunning,
    QueueFull,
    SupervisorError,
    WorkerLost,
)

# Refused without running: safe to send elsewhere.
NEVER_RAN = (NotRunning, QueueFull, NoFreeWorkers)
# Sent, and maybe run: only an idempotent request goes elsewhere.
MAYBE_RAN = (ExecTimeout, WorkerLost)


class Backoff:
    """Per endpoint: how long to leave it alone after failures (doubling, capped)."""

    def __init__(self, first: float = 0.2, cap: float = 5.0) -> None:
        self.first, self.cap = first, cap
        self.failures: dict[str, int] = {}
        self.until: dict[str, float] = {}

    def failed(self, endpoint: str, now: float) -> None:
        count = self.failures.get(endpoint, 0) + 1
        self.failures[endpoint] = count
        self.until[endpoint] = now + min(self.cap, self.first * 2 ** (count - 1))

    def succeeded(self, endpoint: str) -> None:
        self.failures.pop(endpoint, None)
        self.until.pop(endpoint, None)

    def resting(self, endpoint: str, now: float) -> bool:
        return self.until.get(endpoint, 0.0) > now


def choose(endpoints: list[str], start: int, connected: set[str], resting: set[str],
           tried: set[str]) -> str | None:
    """Round-robin from `start`: connected and rested first, then any untried rested one,
    then any untried at all (a caller with every master down still gets a real attempt)."""
    order = endpoints[start:] + endpoints[:start]
    for usable in (lambda e: e in connected and e not in resting,
                   lambda e: e not in resting, lambda e: True):
        for endpoint in order:
            if endpoint not in tried and usable(endpoint):
                return endpoint
    return None


class FailoverClient:
    def __init__(self, single: type, endpoints: list[str], *,
                 context: zmq.Context | None = None, connect_timeout: float = 2.0,
                 heartbeat: float = 0.5) -> None:
        """`single` is the one-endpoint client class (`supervisor.client.Client`)."""
        if not endpoints or not all(isinstance(e, str) and e for e in endpoints):
            raise ValueError(f"expected a non-empty list of endpoints, got {endpoints!r}")
        self.single = single
        self.endpoints = list(dict.fromkeys(endpoints))
        self.connect_timeout = connect_timeout
        self.heartbeat = heartbeat
        self._context = context or zmq.Context.instance()
        self._clients = {e: self._open(e) for e in self.endpoints}
        self.backoff = Backoff()
        self._next = 0
        self.last_endpoint: str | None = None

    def _open(self, endpoint: str) -> Any:
        return self.single(endpoint, context=self._context,
                           connect_timeout=self.connect_timeout, heartbeat=self.heartbeat)

    def _replace(self, endpoint: str) -> None:
        """Drop the socket with whatever it still queues; a fresh one reconnects."""
        self._clients[endpoint].close()
        self._clients[endpoint] = self._open(endpoint)

    def exec(self, handler: str, body: bytes | str = b"", timeout: float | None = 60.0,
             context: dict | None = None, idempotent: bool = False) -> bytes:
        """Run `handler` on one of the masters; the same answers and errors as `Client.exec`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        tried: set[str] = set()
        error: SupervisorError | None = None
        while True:
            now = time.monotonic()
            connected = {e for e, c in self._clients.items() if c.connected}
            resting = {e for e in self.endpoints if self.backoff.resting(e, now)}
            endpoint = choose(self.endpoints, self._next, connected, resting, tried)
            left = None if deadline is None else deadline - now
            if endpoint is None or (left is not None and left <= 0):
                raise error or NotRunning(f"no master answers on {', '.join(self.endpoints)}")
            tried.add(endpoint)
            self._next = (self.endpoints.index(endpoint) + 1) % len(self.endpoints)
            self.last_endpoint = endpoint
            try:
                reply = self._clients[endpoint].exec(handler, body, timeout=left,
                                                     context=context)
            except NEVER_RAN as exc:
                error = exc
                self.backoff.failed(endpoint, time.monotonic())
                continue
            except MAYBE_RAN as exc:
                if isinstance(exc, ExecTimeout | ConnectionLost):  # the master, not a worker
                    self.backoff.failed(endpoint, time.monotonic())
                    self._replace(endpoint)
                if not idempotent:
                    raise
                error = exc
                continue
            self.backoff.succeeded(endpoint)
            return reply

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    def __enter__(self) -> FailoverClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
