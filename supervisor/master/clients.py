"""The client side of the master: the listen socket, request checks, and answering callers.

A request from a client carries a `Caller` as its origin: when the pool is done with
it, the caller answers on the listen socket and counts it in the metrics, so the loop
answers clients and ticks the same way (`Origin` in `supervisor.pool`). Answers to one
client within one loop turn leave as one message (wire version 2); version 1 callers
get one message per answer, as before.

Nothing a peer sends can grow the master without bound: frames are capped by ZeroMQ
(`server.limits.message_size`), messages per connection by its high-water marks, the
queue by `pool.max_queue_size` and `pool.max_queue_memory`, answers a client does not
read by its send high-water mark (they are dropped and counted), and the requests of a
client whose connection closed are dropped from the queue and counted, not run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import zmq

from supervisor import wire
from supervisor.errors import BadRequest, NotRunning, QueueFull
from supervisor.master.peers import Peers
from supervisor.ops.operations import Operations
from supervisor.pool.allocator import Pool, QueueFullError, Request

log = logging.getLogger("supervisor.master")

NOBLOCK = wire.NOBLOCK
# Answers sent to one client in one message at most.
_PER_MESSAGE = 256
# Outcomes counted for requests that ended without an answer reaching the client.
CLIENT_GONE = "ClientGone"
NOT_READ = "AnswerDropped"
CANCELLED = "Cancelled"
# How long answers to a client that reads none are dropped without trying to send them.
MUTE = 0.1


@lru_cache(maxsize=256)
def _error(code: str, message: str) -> bytes:
    return wire.error_body(code, message)


class Clients:
    """Reads requests from the listen socket into the pool and sends answers back."""

    def __init__(self, socket: zmq.Socket, pool: Pool, ops: Operations,
                 handler_names: set[bytes], dispatch: Callable[[bytes, Request], None],
                 message_size: int) -> None:
        self.socket = socket
        self.message_size = message_size
        self.pool = pool
        self.ops = ops
        self.handler_names = handler_names
        self.dispatch = dispatch
        self.stopping = False
        self.peers = Peers(socket)
        self.outbox: dict[bytes, list[bytes]] = {}
        self.pending: dict[tuple[bytes, int], Request] = {}
        self.dropped: dict[str, int] = {}
        self.muted: dict[bytes, float] = {}  # clients not reading their answers, until when
        self.malformed, self.malformed_logged = 0, 0.0
        self._queue_full = wire.error_body(QueueFull.code, f"pool.max_queue_size "
                                           f"({pool.max_queue_size}) requests already waiting")

    # --- reading ---

    def drain(self, budget: int) -> bool:
        """Read up to `budget` requests; True when more may be waiting."""
        recv, peers, known = self.socket.recv, self.peers, self.peers.where
        for count in range(budget):
            if count == 1 and not wire.more(self.socket):
                return False  # the usual case when idle: cheaper than a failed recv
            try:
                ident = recv(NOBLOCK)
            except zmq.Again:
                return False
            first = frame = recv(NOBLOCK, copy=False)
            frames, extra = [frame.bytes], 0
            while frame.more:
                frame = recv(NOBLOCK, copy=False)
                if len(frames) < 4:
                    frames.append(frame.bytes)
                else:
                    extra += 1
            if ident not in known:
                peers.seen(ident, first)
            try:
                if len(frames) == 1:
                    self._request(ident, frames[0])
                else:
                    self._legacy(ident, frames, extra)
            except Exception:
                log.exception("failed while handling a request of %d frames; the master keeps "
                              "running", len(frames) + extra)
        return True

    def on_request(self, frames: list[bytes]) -> None:
        """One message from a client: its routing id, then a v2 request or v1 frames."""
        ident, *rest = frames
        if len(rest) == 1:
            self._request(ident, rest[0])
        else:
            self._legacy(ident, rest[:4], max(len(rest) - 4, 0))

    def _request(self, ident: bytes, frame: bytes) -> None:
        """A wire version 2 request (or cancel)."""
        if not frame or frame[0] != wire.VERSION:  # one frame, but no v2 request: as in v1
            self._legacy(ident, [frame])
            return
        try:
            kind, req_id, timeout_ms, handler, _, start = wire.parse_request_head(frame)
            self._check_size(len(frame) - start)
            count = wire.chunk_count(frame, start) if kind == wire.CHUNK else 1
        except wire.WireError as exc:
            self._malformed(exc)
            req_id = wire.request_id_of(frame)
            if req_id is not None:
                self._reply(ident, wire.answer(wire.S_ERR, req_id,
                                               wire.error_body(BadRequest.code, str(exc))))
            return
        if kind == wire.CANCEL:
            self._cancel(ident, req_id)
            return
        pool = self.pool
        if pool.max_queue_size and len(pool.queue) >= pool.max_queue_size and \
                handler in self.handler_names:  # a flood's requests cost as little as possible
            self._reply(ident, wire.answer(wire.S_ERR, req_id, self._queue_full))
            self.ops.metrics.request(handler.decode("utf-8", "replace"), QueueFull.code, None)
            return
        caller = Caller(ident, req_id, self)
        refusal = self._refusal(handler) or ((ident, req_id) in self.pending and (
            BadRequest.code, f"request id {req_id} is already in flight"))
        if refusal:
            caller.refuse(*refusal)
        else:
            now = time.monotonic()
            request = Request(caller, handler, b"", b"", now, count=count,
                              chunk=kind == wire.CHUNK,
                              deadline=now + timeout_ms / 1000 if timeout_ms else 0.0,
                              size=len(frame), frame=frame)
            self._submit(request, (ident, req_id))

    def _legacy(self, ident: bytes, frames: list[bytes], extra: int = 0) -> None:
        """A wire version 1 request: [req_id, handler, body(, context)]."""
        try:
            if extra:
                raise wire.WireError(f"expected 3 or 4 frames (request id, handler, body"
                                     f"[, context]), or 1 (wire version 2), got "
                                     f"{len(frames) + extra}")
            req_id, handler, body, context = wire.parse_request(frames)
            self._check_size(len(body))
        except wire.WireError as exc:
            self._malformed(exc)
            if frames and 0 < len(frames[0]) <= wire.MAX_REQUEST_ID:
                self._send_legacy(ident, frames[0], wire.ERR,
                                  wire.error_body(BadRequest.code, str(exc)))
            return
        caller = LegacyCaller(ident, req_id, self)
        refusal = self._refusal(handler)
        if refusal:
            caller.refuse(*refusal)
        else:
            now = time.monotonic()
            self._submit(Request(caller, handler, body, context, now,
                                 size=len(body) + len(context)), None)

    def _refusal(self, handler: bytes) -> tuple[str, str] | None:
        """Why a well-formed request is refused before it enters the pool, if it is."""
        if self.stopping:
            return NotRunning.code, "the master is stopping"
        if handler not in self.handler_names:
            return BadRequest.code, f"unknown handler {wire.shown(handler)!r}"
        return None

    def _malformed(self, exc: wire.WireError) -> None:
        """Log a malformed request; under a burst, once a second with how many were dropped."""
        now = time.monotonic()
        self.malformed += 1
        if now - self.malformed_logged >= 1.0:
            more = f" ({self.malformed - 1} more in the last second)" if self.malformed > 1 else ""
            log.warning("dropped a malformed request: %s%s", exc, more)
            self.malformed_logged, self.malformed = now, 0

    def _check_size(self, size: int) -> None:
        """Bodies up to twice the limit are read (ZeroMQ drops larger ones unread) and refused
        with a clear error."""
        if size > self.message_size:
            raise wire.WireError(f"a body of {size} bytes exceeds server.limits."
                                 f"message_size ({self.message_size} bytes)")

    def _submit(self, request: Request, key: tuple[bytes, int] | None) -> None:
        try:
            worker = self.pool.submit(request, request.arrived)
        except QueueFullError as exc:
            request.origin.failed(request, QueueFull.code, str(exc))
            return
        if key is not None:
            self.pending[key] = request
        if worker is not None:
            self.dispatch(worker.ident, request)

    def _cancel(self, ident: bytes, req_id: int) -> None:
        """The caller gave up on a request: if it still waits in the queue, it never runs."""
        request = self.pending.get((ident, req_id))
        if request is not None and not request.seq:
            request.origin.cancelled = True
            request.deadline = 1e-9  # dropped when it reaches the head of the queue

    # --- connections that closed ---

    def forget_gone(self) -> None:
        """Drop the waiting requests of clients whose connection closed; count them."""
        gone = set(self.peers.gone())
        if not gone:
            return
        dropped = self.pool.drop(lambda r: getattr(r.origin, "client", None) not in gone)
        for request in dropped:
            self._count(request, CLIENT_GONE)
        for key in [key for key in self.pending if key[0] in gone]:
            del self.pending[key]
        for ident in gone:
            self.outbox.pop(ident, None)
            self.muted.pop(ident, None)
        if dropped:
            log.info("dropped %d waiting requests of %d closed client connections",
                     len(dropped), len(gone))

    def _count(self, request: Request, outcome: str) -> None:
        self.ops.request_failed(request, outcome)

    # --- answering ---

    def _reply(self, ident: bytes, answer: bytes) -> None:
        if ident in self.muted:
            if time.monotonic() < self.muted[ident]:
                self._not_delivered(ident, 1, NOT_READ)
                return
            del self.muted[ident]
        answers = self.outbox.get(ident)
        if answers is None:
            self.outbox[ident] = [answer]
        else:
            answers.append(answer)

    def flush(self) -> None:
        """Send each client its answers of this loop turn, a few hundred per message."""
        outbox, self.outbox = self.outbox, {}
        for ident, answers in outbox.items():
            for start in range(0, len(answers), _PER_MESSAGE):
                part = answers[start:start + _PER_MESSAGE]
                try:
                    wire.send(self.socket, [ident, *part], NOBLOCK)
                except zmq.Again:  # its queue is full: try again in a while, drop until then
                    self.muted[ident] = time.monotonic() + MUTE
                    self._not_delivered(ident, len(part), NOT_READ)
                except zmq.ZMQError:
                    self.peers.forget(ident)
                    self._not_delivered(ident, len(answers) - start, CLIENT_GONE)
                    break

    def _send_legacy(self, ident: bytes, req_id: bytes, status: bytes, body: bytes) -> None:
        try:
            wire.send(self.socket, [ident, req_id, status, body], NOBLOCK)
        except zmq.Again:
            self._not_delivered(ident, 1, NOT_READ)
        except zmq.ZMQError:
            self._not_delivered(ident, 1, CLIENT_GONE)

    def _not_delivered(self, ident: bytes, count: int, outcome: str) -> None:
        """Answers that could not be sent: the client reads none (full queue) or is gone."""
        self.dropped[outcome] = self.dropped.get(outcome, 0) + count

    def snapshot(self) -> dict[str, int]:
        """For `status`: client connections, and answers that could not be delivered."""
        return {"connections": len(self.peers),
                "answers_not_read": self.dropped.get(NOT_READ, 0),
                "answers_to_closed": self.dropped.get(CLIENT_GONE, 0)}

    def close(self) -> None:
        self.peers.close()


@dataclass(slots=True, eq=False)
class Caller:
    """The origin of a wire version 2 request: answered on the listen socket."""

    client: bytes
    req_id: int
    clients: Clients
    cancelled: bool = False

    def answered(self, request: Request, ok: bool, body: bytes, now: float) -> None:
        clients = self.clients
        clients.pending.pop((self.client, self.req_id), None)
        status = wire.S_CHUNK if request.chunk else wire.S_OK if ok else wire.S_ERR
        clients._reply(self.client, wire.answer(status, self.req_id, body))
        clients.ops.request_done(request, ok, now)

    def failed(self, request: Request, code: str, message: str) -> None:
        clients = self.clients
        clients.pending.pop((self.client, self.req_id), None)
        if self.cancelled:
            clients._count(request, CANCELLED)
            return
        clients._reply(self.client, wire.answer(wire.S_ERR, self.req_id, _error(code, message)))
        clients.ops.request_failed(request, code)

    def refuse(self, code: str, message: str) -> None:
        """Answer an error before the request entered the pool."""
        self.clients._reply(self.client, wire.answer(wire.S_ERR, self.req_id,
                                                     _error(code, message)))


@dataclass(slots=True, eq=False)
class LegacyCaller:
    """The origin of a wire version 1 request: one answer message each."""

    client: bytes
    req_id: bytes
    clients: Clients
    cancelled: bool = False

    def answered(self, request: Request, ok: bool, body: bytes, now: float) -> None:
        self.clients._send_legacy(self.client, self.req_id, wire.OK if ok else wire.ERR, body)
        self.clients.ops.request_done(request, ok, now)

    def failed(self, request: Request, code: str, message: str) -> None:
        self.clients._send_legacy(self.client, self.req_id, wire.ERR, _error(code, message))
        self.clients.ops.request_failed(request, code)

    def refuse(self, code: str, message: str) -> None:
        self.clients._send_legacy(self.client, self.req_id, wire.ERR, _error(code, message))
