"""Calling the pool from another program: `Client(endpoint).exec(handler, body)`."""

from __future__ import annotations

import itertools
import json
import os
import struct
import time
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from supervisor import wire
from supervisor.errors import ConnectionLost, ExecTimeout, NotRunning

_ID = struct.Struct(">Q")


class Client:
    """A connection to a master's listen endpoint. One per thread: it is not thread-safe.

    Every call ends in a result or a typed error from `supervisor.errors`: the
    master's answer, `ExecTimeout` when `timeout` passes, `NotRunning` when no master
    is there (the request was not sent), or `ConnectionLost` when the connection drops
    after sending (the request may have run).

    A call first waits (up to `connect_timeout`) for a connection whose handshake
    succeeded, as ZMQ_IMMEDIATE would; that option itself is off because it drops
    answers that arrived but were not read yet when the connection closes, which is
    what a master does right after answering the last requests of a graceful stop.
    """

    def __new__(cls, endpoint: str | list[str], **options: Any) -> Any:
        """`Client([e1, e2, ...])` is a client with failover across several masters."""
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
        self._sock = self._context.socket(zmq.DEALER)
        self._sock.linger = 0
        self._sock.sndtimeo = int(connect_timeout * 1000)
        self._monitor = self._sock.get_monitor_socket(
            zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
        self._connected = False
        self._poller = zmq.Poller()
        self._poller.register(self._sock, zmq.POLLIN)
        self._poller.register(self._monitor, zmq.POLLIN)
        self._ids = itertools.count(1)
        if heartbeat:
            self._sock.setsockopt(zmq.HEARTBEAT_IVL, int(heartbeat * 1000))
            self._sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, int(heartbeat * 3000))
        self._sock.connect(endpoint)

    def exec(self, handler: str, body: bytes | str = b"", timeout: float | None = 60.0,
             context: dict | None = None) -> bytes:
        """Run `handler` on one worker with `body`; return the response body."""
        if self.endpoint.startswith("ipc://") and not os.path.exists(self.endpoint[6:]):
            raise NotRunning(f"no master listens on {self.endpoint}")
        req_id = _ID.pack(next(self._ids))
        frames = [req_id, handler.encode(), body.encode() if isinstance(body, str) else body]
        if context:
            frames.append(json.dumps(context).encode())
        self._await_connection()
        try:
            self._sock.send_multipart(frames)
        except zmq.Again:
            raise NotRunning(f"cannot connect to {self.endpoint} within "
                             f"{self.connect_timeout:g}s") from None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            events = dict(self._poller.poll(None if wait is None else int(wait * 1000) + 1))
            if self._sock in events and (reply := self._take(req_id)) is not None:
                return reply
            if self._monitor in events and self._drain_monitor():
                # An answer that came in before the connection closed is still queued.
                if (reply := self._take(req_id)) is not None:
                    return reply
                raise ConnectionLost(f"the connection to {self.endpoint} dropped while "
                                     "waiting: the request may have run")
            if deadline is not None and time.monotonic() >= deadline:
                raise ExecTimeout(f"no answer from {handler!r} within {timeout:g}s")

    def _take(self, req_id: bytes) -> bytes | None:
        """Read what has arrived: the answer to `req_id` (or its error), else None."""
        while self._sock.poll(0):
            reply = self._sock.recv_multipart()
            if len(reply) == 3 and reply[0] == req_id:
                if reply[1] == wire.OK:
                    return reply[2]
                raise wire.decode_error(reply[2])
        return None

    @property
    def connected(self) -> bool:
        """Whether the handshake with the master has succeeded and the link is up."""
        self._drain_monitor()
        return self._connected

    def _await_connection(self) -> None:
        self._drain_monitor()
        deadline = time.monotonic() + self.connect_timeout
        while not self._connected:
            left = deadline - time.monotonic()
            if left <= 0 or not self._monitor.poll(int(left * 1000) + 1):
                raise NotRunning(f"cannot connect to {self.endpoint} within "
                                 f"{self.connect_timeout:g}s")
            self._drain_monitor()

    def _drain_monitor(self) -> bool:
        """Read connection events; True if the connection dropped since the last call."""
        dropped = False
        while self._monitor.poll(0):
            event = recv_monitor_message(self._monitor)["event"]
            dropped |= event == zmq.EVENT_DISCONNECTED
            self._connected = event == zmq.EVENT_HANDSHAKE_SUCCEEDED
        return dropped

    def close(self) -> None:
        self._sock.disable_monitor()
        self._monitor.close(0)
        self._sock.close(0)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
