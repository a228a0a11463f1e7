"""Reading events so that none can end the loop: each handler runs under a guard."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import zmq

from supervisor.errors import StartupError

log = logging.getLogger("supervisor.master")

DRAIN_BATCH = 1000
"""Messages read from one socket per loop turn, so one busy socket cannot starve the others."""


def guarded(what: str, handle: Callable[..., Any], *args: Any) -> None:
    """Run one event's handler; a bug or hostile input in one event never ends the loop."""
    try:
        handle(*args)
    except Exception:
        log.exception("failed while handling %s; the master keeps running", what)


def failed(exc: Exception) -> None:
    """The loop cannot go on: a StartupError is one line (it names its config key), anything
    else comes with its traceback."""
    if isinstance(exc, StartupError):
        log.critical("%s", exc)
    else:
        log.critical("the master loop failed; stopping the workers and exiting", exc_info=exc)


def drain(sock: zmq.Socket, handle: Callable[[list[bytes]], Any]) -> None:
    """Handle the messages waiting on `sock`, each under its own guard."""
    for _ in range(DRAIN_BATCH):
        try:
            frames = sock.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return
        guarded(f"a message of {len(frames)} frames ({sum(map(len, frames))} bytes)",
                handle, frames)
