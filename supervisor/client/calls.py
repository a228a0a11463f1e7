"""What `Client` and `AsyncClient` share: the socket, request frames, and answers to outcomes.

Both speak wire version 2 (`supervisor.wire`): a request is one frame, answers
come back one or more per message, each naming its request id, so any number of
requests can be in flight on one socket.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import struct
import threading
import time
from collections import deque
from concurrent.futures import Future, InvalidStateError
from itertools import islice
from typing import Any

import zmq

from supervisor import wire
from supervisor.errors import ConnectionLost, ExecTimeout, NotRunning, SupervisorError

# Requests `map` keeps in flight: MAP_WINDOW bodies, or MAP_CHUNKS chunks if that is more,
# and no more than MAP_BYTES of request bodies (one request goes whatever its size). The
# bytes bound keeps one map within a share of the master's queue memory
# (`pool.max_queue_memory`, 64 MiB by default), so large bodies wait in the client
# instead of failing with QueueFull.
MAP_WINDOW = 256
MAP_CHUNKS = 64
MAP_BYTES = 8 * 2**20
POLLIN = int(zmq.POLLIN)
EVENTS = int(zmq.EVENTS)
MONITORED = zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
_DISCONNECTED = int(zmq.EVENT_DISCONNECTED)
_HANDSHAKE = int(zmq.EVENT_HANDSHAKE_SUCCEEDED)
_EVENT = struct.Struct("=H")
_ANSWER = wire.ANSWER.size


def open_socket(context: zmq.Context, endpoint: str,
                heartbeat: float | None = None) -> tuple[zmq.Socket, zmq.Socket]:
    """A DEALER connected to `endpoint` and its monitor (handshake and disconnect events).

    Nothing the client queues is ever dropped by ZeroMQ (no high-water marks): the
    caller bounds what is in flight. With `heartbeat` (seconds) a master that stops
    answering pings for three intervals drops the connection.
    """
    sock = context.socket(zmq.DEALER)
    sock.linger = 0
    sock.sndhwm = sock.rcvhwm = 0
    if heartbeat:
        sock.heartbeat_ivl = int(heartbeat * 1000)
        sock.heartbeat_timeout = int(heartbeat * 3000)
    monitor = sock.get_monitor_socket(MONITORED)
    monitor.rcvhwm = 0
    sock.connect(endpoint)
    return sock, monitor


def check_endpoint(endpoint: str) -> None:
    """Fail at once when an ipc endpoint has no socket file: no master runs there."""
    if endpoint.startswith("ipc://") and not os.path.exists(endpoint[len("ipc://"):]):
        raise NotRunning(f"no master listens on {endpoint}")


def encode(handler: str, body: bytes | str, context: dict | None) -> tuple[bytes, bytes, bytes]:
    return (handler.encode(), body.encode() if isinstance(body, str) else bytes(body),
            json.dumps(context).encode() if context else b"")


def timeout_ms(timeout: float | None) -> int:
    """The caller's timeout as the wire carries it (0: none), so the master need not run a
    request nobody waits for; a whole millisecond more, so the master never drops first."""
    return 0 if timeout is None else min(int(timeout * 1000) + 1, 2**32 - 1)


def read_events(monitor: zmq.Socket) -> tuple[bool | None, bool]:
    """Drain the monitor: (connected now, or None if no event; whether a disconnect happened)."""
    connected, dropped = None, False
    while True:
        try:
            event = monitor.recv(zmq.NOBLOCK)
            monitor.recv(zmq.NOBLOCK)
        except zmq.Again:
            return connected, dropped
        kind = _EVENT.unpack_from(event)[0]
        if kind == _DISCONNECTED:
            connected, dropped = False, True
        elif kind == _HANDSHAKE:
            connected = True


def answers(frames: list[bytes]) -> list[tuple[int, int, bytes]]:
    """(request id, status, body) for each answer in one message from the master."""
    out = []
    for frame in frames:
        if len(frame) >= _ANSWER and frame[0] == wire.VERSION:
            _, status, req_id = wire.ANSWER.unpack_from(frame)
            out.append((req_id, status, frame[_ANSWER:]))
    return out


def outcome(status: int, body: bytes) -> Any:
    """The value an answer stands for: bytes, or for a chunk a list of its answers
    (`Failed` when some are errors, which stand in it as exceptions).

    Raises the typed error of an error answer.
    """
    if status == wire.S_OK:
        return body
    if status == wire.S_CHUNK:
        try:
            statuses, answers = wire.unpack_answers(body)
        except wire.WireError as exc:
            raise SupervisorError(f"malformed chunk answer: {exc}") from None
        if wire.S_ERR not in statuses:
            return answers
        return Failed(answer if item_status == wire.S_OK else wire.decode_error(answer)
                      for item_status, answer in zip(statuses, answers, strict=True))
    raise wire.decode_error(body)


class Failed(list):
    """A chunk's answers of which some are errors."""


def requests(bodies: Any, chunksize: int) -> tuple[int, Any]:
    """What `map` sends: (kind, an iterator of request bodies), one per body or per chunk."""
    if chunksize == 1:
        return wire.CALL, (body.encode() if isinstance(body, str) else body for body in bodies)
    return wire.CHUNK, map(wire.pack_bodies, _chunks(bodies, chunksize))


def _chunks(bodies: Any, size: int) -> Any:
    """Lists of `size` bodies as bytes (the last may be shorter); bodies already bytes are
    taken as they are, a list at a time."""
    source = iter(bodies)
    while chunk := list(islice(source, size)):
        if not wire.all_bytes(chunk):
            chunk = [body.encode() if isinstance(body, str) else bytes(body) for body in chunk]
        yield chunk


class Call:
    """One request in flight from `Client`: where its outcome goes, and when it gives up."""

    __slots__ = ("deadline", "done", "error", "future", "generation", "handler", "req_id",
                 "result", "status", "timeout")

    def __init__(self, req_id: int, handler: str, timeout: float | None,
                 future: Future | None) -> None:
        self.req_id = req_id
        self.handler = handler
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.future = future
        self.done = False
        self.status = 0
        self.result = b""
        self.error: SupervisorError | None = None
        self.generation = 0

    def value(self) -> Any:
        if self.error is not None:
            raise self.error
        return outcome(self.status, self.result)


class Deadlines:
    """When the calls in flight give up, earliest first (a heap, pruned as calls end)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int]] = []

    @property
    def first(self) -> float:
        return self._heap[0][0] if self._heap else float("inf")

    def add(self, call: Call) -> None:
        if call.deadline is not None:
            heapq.heappush(self._heap, (call.deadline, call.req_id))

    def due(self, now: float, calls: dict[int, Call]) -> list[Call]:
        """The calls still in flight whose deadline passed; forgets theirs and ended ones."""
        due = []
        while self._heap and self._heap[0][0] <= now:
            call = calls.get(heapq.heappop(self._heap)[1])
            if call is not None:
                due.append(call)
        if len(self._heap) > 2 * len(calls) + 64:
            self._heap = [(c.deadline, c.req_id) for c in calls.values() if c.deadline is not None]
            heapq.heapify(self._heap)
        return due


class Feed:
    """What `map` sends next: (kind, handler, name, body, context, time left) per body or
    per chunk, and how many to keep in flight."""

    def __init__(self, handler: str, bodies: Any, context: dict | None, timeout: float | None,
                 chunksize: int) -> None:
        if chunksize < 1:
            raise ValueError("chunksize must be at least 1")
        self.handler = handler
        self.name, _, self.context = encode(handler, b"", context)
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.kind, self.source = requests(bodies, chunksize)
        self.window = max(MAP_CHUNKS, MAP_WINDOW // chunksize)
        # Chunks are sent half a window at a time, so the master reads several per
        # wake-up and hands them on together (it then takes about half as many loop
        # turns per chunk); single bodies are sent one per answer.
        self.low = self.window - 1 if chunksize == 1 else self.window // 2
        self.sizes: deque[int] = deque()  # of the requests in flight, oldest first
        self.bytes = 0

    def refill(self, in_flight: Any, start: Any) -> None:
        """Send what the window allows now, each request through `start` (the client's),
        its call or future appended to `in_flight`. The caller takes answers off the
        front of `in_flight`; their sizes leave the byte count here."""
        sizes = self.sizes
        for _ in range(len(sizes) - len(in_flight)):
            self.bytes -= sizes.popleft()
        if len(in_flight) > self.low:
            return
        while len(in_flight) < self.window and (self.bytes < MAP_BYTES or not in_flight):
            sent = self.next()
            if sent is None:
                return
            in_flight.append(start(*sent))
            sizes.append(len(sent[3]))
            self.bytes += sizes[-1]

    def next(self) -> tuple[int, str, bytes, bytes, bytes, float | None] | None:
        body = next(self.source, None)
        if body is None:
            return None
        left = None if self.deadline is None else max(self.deadline - time.monotonic(), 0.001)
        return self.kind, self.handler, self.name, body, self.context, left


def items(value: Any) -> Any:
    """The answers one call of `map` stands for: a chunk's in order (raising the first
    error in its turn), or the one answer."""
    if type(value) is list:
        return value
    if type(value) is Failed:
        return _until_failed(value)
    return (value,)


def _until_failed(answers: Failed) -> Any:
    for item in answers:
        if isinstance(item, SupervisorError):
            raise item
        yield item


def resolve(call: Call) -> None:
    """Complete a `submit` future with its call's outcome (unless its owner cancelled it)."""
    try:
        value = call.value()
    except SupervisorError as exc:
        method, value = call.future.set_exception, exc
    else:
        method = call.future.set_result
    with contextlib.suppress(InvalidStateError):
        method(value)


def expired(handler: str, timeout: float | None) -> ExecTimeout:
    return ExecTimeout(f"no answer from {handler!r} within {timeout:g}s")


def dropped(endpoint: str) -> ConnectionLost:
    return ConnectionLost(f"the connection to {endpoint} dropped while waiting: the request "
                          "may have run")


def closed() -> SupervisorError:
    return NotRunning("the client was closed")


class Condition(threading.Condition):
    """A condition that counts its waiters: notifying when none waits (a lone caller's
    every answer) costs nothing."""

    def __init__(self, lock: Any) -> None:
        super().__init__(lock)
        self.waiting = 0

    def wait(self, timeout: float | None = None) -> bool:
        self.waiting += 1
        try:
            return super().wait(timeout)
        finally:
            self.waiting -= 1

    def notify_all(self) -> None:
        if self.waiting:
            super().notify_all()
