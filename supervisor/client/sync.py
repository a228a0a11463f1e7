"""`Client`: calling the pool from threads, one request or many in flight on one socket.

Any number of threads share one `Client`. Every socket operation happens under one
lock, and no thread ever blocks in ZeroMQ while holding it: a thread that waits for
an answer becomes the *reader* (at most one at a time) and sleeps in `select` on
the socket's file descriptors, then reads every answer that arrived and hands each
to its caller. So a lone `exec` costs one wake-up, as a blocking call would, and
threads waiting together share the reads. Futures from `submit` are completed by
whichever thread reads, or by a helper thread when nobody else is waiting.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import select
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from typing import Any

import zmq

from supervisor import wire
from supervisor.client import calls
from supervisor.errors import NotRunning, SupervisorError


class Client:
    """A connection to a master's listen endpoint, shared safely by any number of threads.

    Every call ends in a result or a typed error from `supervisor.errors`: the
    master's answer, `ExecTimeout` when `timeout` passes, `NotRunning` when no master
    is there (the request was not sent), or `ConnectionLost` when the connection drops
    after sending (the request may have run). `Client([e1, e2, ...])` is a client with
    failover across several masters (`supervisor.failover`).

    A request first waits (up to `connect_timeout`) for a connection whose handshake
    succeeded, as ZMQ_IMMEDIATE would; that option itself is off because it drops
    answers that arrived but were not read yet when the connection closes, which is
    what a master does right after answering the last requests of a graceful stop.
    """

    def __new__(cls, endpoint: str | list[str], **options: Any) -> Any:
        if isinstance(endpoint, list | tuple):
            from supervisor.failover import FailoverClient

            return FailoverClient(cls, list(endpoint), **options)
        return super().__new__(cls)

    def __init__(self, endpoint: str, *, context: zmq.Context | None = None,
                 connect_timeout: float = 2.0, heartbeat: float | None = None) -> None:
        """`heartbeat` (seconds): ping the master so a hung one drops the connection
        after three missed intervals instead of leaving a request waiting."""
        self.endpoint = endpoint
        self.connect_timeout = connect_timeout
        self._context = context or zmq.Context.instance()
        self._sock, self._monitor = calls.open_socket(self._context, endpoint, heartbeat)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._fds = [self._sock.FD, self._monitor.FD, self._wake_r]
        self._io = threading.Lock()
        self._lock = threading.Lock()  # the calls table and the reader role
        self._state = threading.Condition(self._lock)
        self._calls: dict[int, calls.Call] = {}
        self._deadlines = calls.Deadlines()
        self._ids = itertools.count(1)
        self._reading = False
        self._futures = 0
        self._pump: threading.Thread | None = None
        self._connected = False
        self._generation = 0  # connections dropped so far
        self._settled = 0  # drops whose calls in flight were failed
        self._closed = False

    # --- the API ---

    def exec(self, handler: str, body: bytes | str = b"", timeout: float | None = 60.0,
             context: dict | None = None) -> bytes:
        """Run `handler` on one worker with `body`; return the response body."""
        name, data, ctx = calls.encode(handler, body, context)
        call = self._start(wire.CALL, handler, name, data, ctx, timeout)
        self._wait(call)
        return call.value()

    def submit(self, handler: str, body: bytes | str = b"", *, context: dict | None = None,
               timeout: float | None = 60.0) -> Future:
        """Send the request now; the future resolves to the response bytes or the typed error.

        Cancelling the future before it resolves drops the request if it still waits
        in the master's queue.
        """
        name, data, ctx = calls.encode(handler, body, context)
        future: Future = Future()
        call = self._start(wire.CALL, handler, name, data, ctx, timeout, future)
        future.add_done_callback(lambda f: f.cancelled() and self._abandon(call))
        return future

    def map(self, handler: str, bodies: Iterable[bytes | str], *, context: dict | None = None,
            timeout: float | None = None, chunksize: int = 1) -> Iterator[bytes]:
        """Responses to `handler` for each body, in input order, many requests in flight.

        With `chunksize > 1`, bodies travel `chunksize` to a message, each chunk to one
        worker and back as one message; each body still gets its own handler call. A
        failed call raises its typed error when its turn comes, as `Executor.map` does.
        `timeout` bounds the whole map, from this call.
        """
        feed = calls.Feed(handler, bodies, context, timeout, chunksize)
        in_flight: deque[calls.Call] = deque()

        refill = functools.partial(feed.refill, in_flight, self._start)
        refill()
        return self._results(in_flight, refill)

    @property
    def connected(self) -> bool:
        """Whether the handshake with the master has succeeded and the link is up."""
        with self._io:
            generation = self._generation
            self._monitor_events()
            dropped = generation != self._generation
        if dropped and self._reading:
            self._poke()  # the reader settles what was in flight on that connection
        return self._connected

    def close(self) -> None:
        """Fail what is in flight with NotRunning and close the socket."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._state.notify_all()
        self._poke()
        if self._pump is not None and self._pump is not threading.current_thread():
            self._pump.join(5)
        with self._lock:
            self._state.wait_for(lambda: not self._reading, 5)
        self._complete_all(calls.closed())
        with self._io:
            self._sock.disable_monitor()
            self._monitor.close(0)
            self._sock.close(0)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- sending ---

    def _start(self, kind: int, handler: str, name: bytes, body: bytes, context: bytes,
               timeout: float | None, future: Future | None = None) -> calls.Call:
        if self._closed:
            raise calls.closed()
        call = calls.Call(next(self._ids), handler, timeout, future)
        with self._lock:
            self._calls[call.req_id] = call
            self._deadlines.add(call)
            if future is not None:
                self._futures += 1
                self._start_pump()
        try:  # a call that cannot be sent ends in its error, as any other outcome
            if not self._connected:
                calls.check_endpoint(self.endpoint)
            self._send(wire.request(kind, call.req_id, name, body, calls.timeout_ms(timeout),
                                    context), call)
        except SupervisorError as exc:
            self._complete(call, error=exc)
        except zmq.ZMQError as exc:
            self._complete(call, error=NotRunning(f"cannot send to {self.endpoint}: {exc}"))
        return call

    def _send(self, frame: bytes, call: calls.Call | None) -> None:
        with self._io:
            if not self._connected:
                self._await_connection()
            if call is not None:
                call.generation = self._generation
            self._sock.send(frame, wire.NOBLOCK)
            if not self._reading:
                return  # whoever reads next looks before it sleeps
            waiting = self._sock.get(calls.EVENTS) & calls.POLLIN or \
                self._generation != self._settled
        if waiting:
            self._poke()  # an answer arrived during the send: the reader's select may miss it

    def _await_connection(self) -> None:
        """Wait (holding the socket lock) for a connection whose handshake succeeded."""
        deadline = time.monotonic() + self.connect_timeout
        while True:
            self._monitor_events()
            if self._connected:
                return
            left = deadline - time.monotonic()
            if left <= 0 or not self._monitor.poll(int(left * 1000) + 1):
                raise NotRunning(f"cannot connect to {self.endpoint} within "
                                 f"{self.connect_timeout:g}s")

    def _monitor_events(self) -> None:
        connected, dropped = calls.read_events(self._monitor)
        if dropped:
            self._generation += 1
        if connected is not None:
            self._connected = connected

    def _abandon(self, call: calls.Call, error: SupervisorError | None = None) -> None:
        """The caller no longer waits: end the call and ask the master to drop it."""
        if self._complete(call, error=error or calls.closed()) and not self._closed:
            with contextlib.suppress(SupervisorError, zmq.ZMQError):
                self._send(wire.request(wire.CANCEL, call.req_id, b"-"), None)

    # --- reading ---

    def _wait(self, call: calls.Call) -> None:
        """Until `call` is done: read as the reader, or sleep while another thread reads."""
        while not call.done:
            if self._closed:
                self._complete(call, error=calls.closed())
                return
            with self._lock:
                while not call.done and self._reading:
                    left = None if call.deadline is None else call.deadline - time.monotonic()
                    if left is not None and left <= 0:
                        break
                    self._state.wait(left)
                if call.done:
                    return
                expired = self._reading  # its deadline passed while another thread read
                if not expired:
                    self._reading = True
            if expired:
                self._expire(call)
                continue
            try:
                self._read_until(lambda: call.done)
            finally:
                self._resign()

    def _read_until(self, finished: Any) -> None:
        while not finished() and not self._closed:
            self._read()
            now = time.monotonic()
            if self._deadlines.first <= now:
                with self._lock:
                    due = self._deadlines.due(now, self._calls)
                for call in due:
                    self._expire(call)

    def _resign(self) -> None:
        with self._lock:
            self._reading = False
            self._state.notify_all()

    def _read(self) -> None:
        """Handle what arrived; if nothing had, sleep until something does or a deadline.

        The sockets' descriptors signal only changes (edge-triggered), and ZeroMQ signals
        a new message only to a reader that found its queue empty: so the socket is read
        until it is empty before sleeping, the monitor whenever its fd fires.
        """
        if self._drain(False, False):
            return
        first = self._deadlines.first
        timeout = None if first == float("inf") else max(first - time.monotonic(), 0.0)
        ready = select.select(self._fds, [], [], timeout)[0]
        if self._wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_r, 4096)
        self._drain(self._fds[1] in ready, self._fds[0] in ready)

    def _drain(self, monitor: bool, likely: bool) -> bool:
        """Read every waiting answer (and connection event); True if there were any.

        When the socket's fd just fired (`likely`), an answer is usually there: read
        it before asking ZeroMQ whether there is one.
        """
        messages = []
        sock = self._sock
        with self._io:
            if self._closed:
                return True
            if likely:
                with contextlib.suppress(zmq.Again, wire.WireError):
                    messages.append(wire.recv(sock, wire.NOBLOCK, 2 * 1024))
            while sock.get(calls.EVENTS) & calls.POLLIN:
                try:
                    messages.append(wire.recv(sock, wire.NOBLOCK, 2 * 1024))
                except wire.WireError:
                    continue
            if monitor:
                self._monitor_events()
            dropped = self._generation != self._settled
            self._settled = self._generation
        if messages:
            self._complete_answers(messages)
        if dropped:  # answers read before the drop were delivered above
            self._complete_all(calls.dropped(self.endpoint), before=self._settled)
        return bool(messages) or dropped

    def _results(self, in_flight: deque[calls.Call], refill: Any) -> Iterator[Any]:
        try:
            while in_flight:
                call = in_flight[0]
                self._wait(call)
                in_flight.popleft()
                refill()
                yield from calls.items(call.value())
        finally:
            for call in in_flight:
                self._abandon(call)

    # --- completing calls ---

    def _complete_answers(self, messages: list[list[bytes]]) -> None:
        """Record the answers read, all under one lock; then resolve their futures."""
        resolved = []
        with self._lock:
            for frames in messages:
                for req_id, status, body in calls.answers(frames):
                    call = self._calls.pop(req_id, None)
                    if call is None or call.done:
                        continue
                    call.done, call.status, call.result = True, status, body
                    if call.future is not None:
                        self._futures -= 1
                        resolved.append(call)
            self._state.notify_all()
        for call in resolved:
            calls.resolve(call)

    def _complete(self, call: calls.Call, status: int = 0, result: bytes = b"",
                  error: SupervisorError | None = None) -> bool:
        """Record a call's outcome once; wake its thread or resolve its future."""
        with self._lock:
            if call.done:
                return False
            call.done = True
            call.status, call.result, call.error = status, result, error
            self._calls.pop(call.req_id, None)
            if call.future is not None:
                self._futures -= 1
            self._state.notify_all()
        if call.future is not None:
            calls.resolve(call)
        return True

    def _expire(self, call: calls.Call) -> None:
        self._abandon(call, calls.expired(call.handler, call.timeout))

    def _complete_all(self, error: SupervisorError, before: int | None = None) -> None:
        with self._lock:
            doomed = [call for call in self._calls.values()
                      if before is None or call.generation < before]
        for call in doomed:
            self._complete(call, error=error)

    # --- the helper thread for futures ---

    def _start_pump(self) -> None:
        if self._pump is None:
            self._pump = threading.Thread(target=self._pump_loop, name="supervisor-client",
                                          daemon=True)
            self._pump.start()
        self._state.notify_all()

    def _pump_loop(self) -> None:
        """Read for futures while no other thread does."""
        while True:
            with self._lock:
                while not self._closed and (not self._futures or self._reading):
                    self._state.wait()
                if self._closed:
                    return
                self._reading = True
            try:
                self._read_until(lambda: not self._futures)
            finally:
                self._resign()

    def _poke(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"x")
