"""The client side of the master: the listen socket, request checks, and answering callers.

A request from a client carries a `Caller` as its origin: when the pool is done with
it, the caller sends the answer on the listen socket and counts it in the metrics, so
the loop answers clients and ticks the same way (`Origin` in `supervisor.pool`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import zmq

from supervisor import wire
from supervisor.errors import NotRunning, QueueFull
from supervisor.ops.operations import Operations
from supervisor.pool.allocator import Pool, QueueFullError, Request

log = logging.getLogger("supervisor.master")


class Clients:
    """Reads requests from the listen socket into the pool and sends answers back."""

    def __init__(self, socket: zmq.Socket, pool: Pool, ops: Operations,
                 handler_names: set[bytes], dispatch: Callable[[bytes, Request], None]) -> None:
        self.socket = socket
        self.pool = pool
        self.ops = ops
        self.handler_names = handler_names
        self.dispatch = dispatch
        self.stopping = False

    def on_request(self, frames: list[bytes]) -> None:
        client, *rest = frames
        try:
            req_id, handler, body, context = wire.parse_request(rest)
        except wire.WireError as exc:
            log.warning("dropped a malformed request: %s", exc)
            if rest and 0 < len(rest[0]) <= wire.MAX_REQUEST_ID:
                self.send(client, rest[0], wire.ERR, wire.error_body("BadRequest", str(exc)))
            return
        if self.stopping:
            self.send(client, req_id, wire.ERR,
                      wire.error_body(NotRunning.code, "the master is stopping"))
            return
        if handler not in self.handler_names:
            self.send(client, req_id, wire.ERR, wire.error_body(
                "BadRequest", f"unknown handler {handler.decode('utf-8', 'replace')!r}"))
            return
        request = Request(Caller(client, req_id, self), handler, body, context, time.monotonic())
        try:
            worker = self.pool.submit(request, request.arrived)
        except QueueFullError as exc:
            request.origin.failed(request, QueueFull.code, str(exc))
            return
        if worker is not None:
            self.dispatch(worker.ident, request)

    def send(self, client: bytes, req_id: bytes, status: bytes, body: bytes) -> None:
        self.socket.send_multipart([client, req_id, status, body])


@dataclass(frozen=True, slots=True)
class Caller:
    """The origin of a client's request: answered on the listen socket."""

    client: bytes
    req_id: bytes
    clients: Clients

    def answered(self, request: Request, ok: bool, body: bytes, now: float) -> None:
        self.clients.send(self.client, self.req_id, wire.OK if ok else wire.ERR, body)
        self.clients.ops.request_done(request, ok, now)

    def failed(self, request: Request, code: str, message: str) -> None:
        self.clients.send(self.client, self.req_id, wire.ERR, wire.error_body(code, message))
        self.clients.ops.request_failed(request, code)
