"""Calling the pool from another program: `Client(endpoint).exec(handler, body)`."""

from __future__ import annotations

import itertools
import json
import os
import struct
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

from supervisor import wire
from supervisor.errors import ExecTimeout, NotRunning

_ID = struct.Struct(">Q")


class Client:
    """A connection to a master's listen endpoint. One per thread: it is not thread-safe.

    Every call ends in a result or a typed error from `supervisor.errors`: the
    master's answer, `ExecTimeout` when `timeout` passes, or `NotRunning` when no
    master is there or the connection drops while waiting.
    """

    def __init__(self, endpoint: str, *, context: zmq.Context | None = None,
                 connect_timeout: float = 2.0) -> None:
        self.endpoint = endpoint
        self.connect_timeout = connect_timeout
        self._context = context or zmq.Context.instance()
        self._sock = self._context.socket(zmq.DEALER)
        self._sock.linger = 0
        self._sock.immediate = True
        self._sock.sndtimeo = int(connect_timeout * 1000)
        self._monitor = self._sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self._poller = zmq.Poller()
        self._poller.register(self._sock, zmq.POLLIN)
        self._poller.register(self._monitor, zmq.POLLIN)
        self._ids = itertools.count(1)
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
        self._drain_monitor()
        try:
            self._sock.send_multipart(frames)
        except zmq.Again:
            raise NotRunning(f"cannot connect to {self.endpoint} within "
                             f"{self.connect_timeout:g}s") from None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            events = dict(self._poller.poll(None if wait is None else int(wait * 1000) + 1))
            if self._sock in events:
                reply = self._sock.recv_multipart()
                if len(reply) == 3 and reply[0] == req_id:
                    if reply[1] == wire.OK:
                        return reply[2]
                    raise wire.decode_error(reply[2])
                continue
            if self._monitor in events and self._drain_monitor():
                raise NotRunning(f"the connection to {self.endpoint} dropped while waiting")
            if deadline is not None and time.monotonic() >= deadline:
                raise ExecTimeout(f"no answer from {handler!r} within {timeout:g}s")

    def _drain_monitor(self) -> bool:
        dropped = False
        while self._monitor.poll(0):
            dropped |= recv_monitor_message(self._monitor)["event"] == zmq.EVENT_DISCONNECTED
        return dropped

    def close(self) -> None:
        self._sock.disable_monitor()
        self._monitor.close(0)
        self._sock.close(0)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
