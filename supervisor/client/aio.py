"""`AsyncClient`: calling the pool from an asyncio event loop, any number of calls in flight.

The socket belongs to the loop that first uses the client: its file descriptors are
watched with `loop.add_reader`, sends happen in the loop thread, and every answer
resolves the future of its call. Cancelling an awaiting call frees its place at
once and asks the master to drop the request if it still waits in the queue.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Any

import zmq

from supervisor import wire
from supervisor.client import calls
from supervisor.errors import NotRunning, SupervisorError


class AsyncClient:
    """The asyncio twin of `Client`: `await c.exec()`, `c.submit()`, `async for ... in c.map()`."""

    def __init__(self, endpoint: str, *, context: zmq.Context | None = None,
                 connect_timeout: float = 2.0) -> None:
        self.endpoint = endpoint
        self.connect_timeout = connect_timeout
        self._context = context or zmq.Context.instance()
        self._sock, self._monitor = calls.open_socket(self._context, endpoint)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._calls: dict[int, tuple[asyncio.Future, str, float | None, Any]] = {}
        self._ids = itertools.count(1)
        self._connected: asyncio.Event | None = None
        self._unsent: set[int] = set()
        self._closed = False

    # --- the API ---

    async def exec(self, handler: str, body: bytes | str = b"", timeout: float | None = 60.0,
                   context: dict | None = None) -> bytes:
        """Run `handler` on one worker with `body`; return the response body."""
        return await self.submit(handler, body, context=context, timeout=timeout)

    def submit(self, handler: str, body: bytes | str = b"", *, context: dict | None = None,
               timeout: float | None = 60.0) -> asyncio.Future:
        """Send the request now (once connected); await the result for its bytes or typed error.

        Cancelling the awaitable drops the request if it still waits in the master's queue.
        """
        name, data, ctx = calls.encode(handler, body, context)
        return self._start(wire.CALL, handler, name, data, ctx, timeout)

    async def map(self, handler: str, bodies: Iterable[bytes | str], *,
                  context: dict | None = None, timeout: float | None = None,
                  chunksize: int = 1) -> AsyncIterator[bytes]:
        """Responses for each body in input order, many in flight (see `Client.map`)."""
        feed = calls.Feed(handler, bodies, context, timeout, chunksize)
        in_flight: deque[asyncio.Future] = deque()

        refill = functools.partial(feed.refill, in_flight, self._start)
        refill()
        try:
            while in_flight:
                value = await in_flight[0]
                in_flight.popleft()
                refill()
                for item in calls.items(value):
                    yield item
        finally:
            for future in in_flight:
                future.cancel()

    def close(self) -> None:
        """Fail what is in flight with NotRunning and close the socket."""
        if self._closed:
            return
        self._closed = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._sock.FD)
            self._loop.remove_reader(self._monitor.FD)
        for future, _, _, timer in list(self._calls.values()):
            if timer is not None:
                timer.cancel()
            if not future.done():
                future.set_exception(calls.closed())
        self._calls.clear()
        self._sock.disable_monitor()
        self._monitor.close(0)
        self._sock.close(0)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    # --- sending ---

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            self._connected = asyncio.Event()
            loop.add_reader(self._sock.FD, self._read)
            loop.add_reader(self._monitor.FD, self._read)
            self._read()
        elif loop is not self._loop:
            raise RuntimeError("an AsyncClient is used from the event loop that first used it")
        return loop

    def _start(self, kind: int, handler: str, name: bytes, body: bytes, context: bytes,
               timeout: float | None) -> asyncio.Future:
        loop = self._bind_loop()
        future = loop.create_future()
        if self._closed:
            future.set_exception(calls.closed())
            return future
        req_id = next(self._ids)
        timer = None if timeout is None else loop.call_later(timeout, self._expire, req_id)
        self._calls[req_id] = (future, handler, timeout, timer)
        future.add_done_callback(lambda f: f.cancelled() and self._abandon(req_id))
        frame = wire.request(kind, req_id, name, body, calls.timeout_ms(timeout), context)
        if self._connected.is_set():
            self._send(frame)
        else:
            self._unsent.add(req_id)
            loop.create_task(self._send_when_connected(req_id, frame))
        return future

    async def _send_when_connected(self, req_id: int, frame: bytes) -> None:
        try:
            if not self._connected.is_set():
                calls.check_endpoint(self.endpoint)
                await asyncio.wait_for(self._connected.wait(), self.connect_timeout)
        except (TimeoutError, NotRunning) as exc:
            error = exc if isinstance(exc, NotRunning) else NotRunning(
                f"cannot connect to {self.endpoint} within {self.connect_timeout:g}s")
            if req_id in self._calls:
                self._finish(req_id, error=error)
            return
        finally:
            self._unsent.discard(req_id)
        if req_id in self._calls:
            self._send(frame)

    def _send(self, frame: bytes) -> None:
        if self._closed:
            return
        self._sock.send(frame, wire.NOBLOCK)
        if self._sock.get(calls.EVENTS) & calls.POLLIN:
            self._loop.call_soon(self._read)  # an answer arrived during the send

    def _abandon(self, req_id: int) -> None:
        """A cancelled call: forget it and ask the master to drop it if still queued."""
        entry = self._calls.pop(req_id, None)
        if entry is not None and entry[3] is not None:
            entry[3].cancel()
        if entry is not None and self._connected.is_set():
            self._send(wire.request(wire.CANCEL, req_id, b"-"))

    def _expire(self, req_id: int) -> None:
        entry = self._calls.get(req_id)
        if entry is not None:
            self._finish(req_id, error=calls.expired(entry[1], entry[2]))
            if self._connected.is_set():
                self._send(wire.request(wire.CANCEL, req_id, b"-"))

    # --- reading ---

    def _read(self) -> None:
        """Read every waiting answer and connection event (the socket's fd is edge-triggered)."""
        if self._closed:
            return
        sock = self._sock
        while sock.get(calls.EVENTS) & calls.POLLIN:
            try:
                frames = wire.recv(sock, wire.NOBLOCK, 2 * 1024)
            except wire.WireError:
                continue
            for req_id, status, body in calls.answers(frames):
                if req_id in self._calls:
                    self._finish(req_id, status=status, body=body)
        if self._monitor.get(calls.EVENTS) & calls.POLLIN:
            connected, dropped = calls.read_events(self._monitor)
            if dropped:
                self._connected.clear()
                for req_id in [r for r in self._calls if r not in self._unsent]:
                    self._finish(req_id, error=calls.dropped(self.endpoint))
            if connected:
                self._connected.set()

    def _finish(self, req_id: int, status: int = 0, body: bytes = b"",
                error: SupervisorError | None = None) -> None:
        future, _, _, timer = self._calls.pop(req_id)
        if timer is not None:
            timer.cancel()
        if future.done():
            return
        if error is None:
            try:
                future.set_result(calls.outcome(status, body))
                return
            except SupervisorError as exc:
                error = exc
        future.set_exception(error)
