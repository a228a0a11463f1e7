"""Waiting for the loop's next event: `zmq.Poller`'s interface at a third of its system calls.

`zmq.Poller` asks every ZeroMQ socket for its events (`ZMQ_EVENTS`, a `poll` and a
`getpid` each) once before it sleeps and again after it wakes, around two polls of
every descriptor: with three sockets, eight polls per wait, each costly on a small
VM. Here a socket is watched by its descriptor (`ZMQ_FD`) in one `poll` with the
plain descriptors. That descriptor signals only a change (ZeroMQ signals a new
message only to a reader that found its queue empty), and any operation on the
socket may consume the signal, so before sleeping each socket is asked once
whether a message waits; one whose descriptor fired is reported without asking
again (its reader meets `zmq.Again` in the rare case nothing came). Readers must
handle `zmq.Again`, as the master's all do.
"""

from __future__ import annotations

import select
from typing import Any

import zmq

_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)


def _descriptor(item: Any) -> int:
    if isinstance(item, zmq.Socket):
        return item.FD
    return item if isinstance(item, int) else item.fileno()


class Waiter:
    """register / unregister / poll as `zmq.Poller` (readiness to read only)."""

    def __init__(self) -> None:
        self._poll = select.poll()
        self._items: dict[int, Any] = {}  # descriptor -> what `poll` reports
        self._fds: dict[Any, int] = {}
        self._sockets: list[zmq.Socket] = []

    def register(self, item: Any, flags: int = _POLLIN) -> None:
        """Watch `item` (a ZeroMQ socket, a descriptor or an object with `fileno()`)."""
        if item in self._fds:
            return
        fd = _descriptor(item)
        self._items[fd], self._fds[item] = item, fd
        self._poll.register(fd, select.POLLIN)
        if isinstance(item, zmq.Socket):
            self._sockets.append(item)

    def unregister(self, item: Any) -> None:
        fd = self._fds.pop(item, None)
        if fd is None:
            raise KeyError(item)
        del self._items[fd]
        self._poll.unregister(fd)
        if isinstance(item, zmq.Socket):
            self._sockets.remove(item)

    def poll(self, timeout: int | None = None) -> list[tuple[Any, int]]:
        """What is ready within `timeout` ms (None: wait for something), as (item, events)."""
        ready = [(sock, _POLLIN) for sock in self._sockets
                 if sock.getsockopt(_EVENTS) & _POLLIN]
        found = self._poll.poll(0 if ready else timeout)
        if found:
            reported = {sock for sock, _ in ready}
            items = self._items
            for fd, events in found:
                item = items.get(fd)
                if item is None or item in reported:
                    continue
                ready.append((item, _POLLIN) if isinstance(item, zmq.Socket) else (item, events))
        return ready
