"""Which client connections are gone, so their waiting requests are dropped rather than run.

A ROUTER socket names peers by routing id and never says when one leaves. Its
monitor does, by file descriptor: ACCEPTED(fd) when a connection opens,
DISCONNECTED(fd) when it closes. Each message carries the fd it came from
(ZMQ_SRCFD), read once per new routing id. An fd number is reused by a later
connection, so each routing id is stamped with the fd's latest ACCEPTED (read
from the monitor just after that routing id's first message, so its own accept
is already there); a DISCONNECTED(fd) ends only the routing ids of the
connection it closes.
"""

from __future__ import annotations

import struct
from collections import defaultdict

import zmq

EVENTS = zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED
_EVENT = struct.Struct("=hi")
_ACCEPTED = int(zmq.EVENT_ACCEPTED)
_DISCONNECTED = int(zmq.EVENT_DISCONNECTED)
SRCFD = int(zmq.SRCFD)


class Peers:
    """Routing ids by connection; `gone()` returns those whose connection closed."""

    def __init__(self, sock: zmq.Socket) -> None:
        self.monitor = sock.get_monitor_socket(EVENTS)
        self.monitor.rcvhwm = 0
        self._connection: dict[int, int] = defaultdict(int)  # fd -> its latest ACCEPTED
        self.where: dict[bytes, tuple[int, int]] = {}  # routing id -> (fd, connection)
        self._on: dict[tuple[int, int], set[bytes]] = defaultdict(set)
        self._gone: list[bytes] = []

    @property
    def leaving(self) -> bool:
        """Some routing ids are known gone but not yet handed out by `gone()`."""
        return bool(self._gone)

    def __contains__(self, ident: bytes) -> bool:
        return ident in self.where

    def __len__(self) -> int:
        return len(self.where)

    def seen(self, ident: bytes, frame: zmq.Frame) -> None:
        """The first message from `ident`: note which connection it came on."""
        self.read_events()
        fd = frame.get(SRCFD)
        key = (fd, self._connection[fd])
        self.where[ident] = key
        self._on[key].add(ident)

    def read_events(self) -> None:
        while True:
            try:
                event = self.monitor.recv(zmq.NOBLOCK)
                self.monitor.recv(zmq.NOBLOCK)  # the endpoint frame
            except zmq.Again:
                return
            kind, fd = _EVENT.unpack(event[:_EVENT.size])
            if kind == _ACCEPTED:
                self._connection[fd] += 1
            elif kind == _DISCONNECTED:
                for ident in self._on.pop((fd, self._connection[fd]), ()):
                    del self.where[ident]
                    self._gone.append(ident)

    def forget(self, ident: bytes) -> None:
        """`ident` is known to be unreachable (a send failed): treat it as gone."""
        key = self.where.pop(ident, None)
        if key is not None:
            self._on[key].discard(ident)
            self._gone.append(ident)

    def gone(self) -> list[bytes]:
        """Routing ids whose connection closed since the last call."""
        self.read_events()
        gone, self._gone = self._gone, []
        return gone

    def close(self) -> None:
        self.monitor.close(0)
