"""The seam between the master loop and the services beside the pool.

The scheduler's dispatcher, the Tars keepalive and later integrations each run a
helper process, may own sockets the loop polls, and must hear when the pool is
ready and when the master stops. The loop knows them only through this protocol
and walks a list of them, so adding a service never touches the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import zmq

Handler = Callable[[list[bytes]], None]


class Service(Protocol):
    name: str

    def sockets(self) -> dict[zmq.Socket, Handler]:
        """Sockets the loop polls, each with the handler for one message read from it."""

    def pool_ready(self, now: float) -> None:
        """The pool is ready for the first time."""

    def after_poll(self, events: dict[Any, int], now: float) -> None:
        """Every loop turn: reap, restart, time out (`events` as poll returned them)."""

    def next_deadline(self) -> float | None:
        """When the loop must wake for this service, or None."""

    def stop(self) -> None:
        """The master begins to stop: finish up, start nothing new."""

    def draining(self) -> bool:
        """Still finishing after `stop()`: the master waits for this before exiting."""

    def close(self) -> None:
        """The master is exiting: release everything now."""
