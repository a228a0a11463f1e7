"""Reading events so that none can end the loop: each handler runs under a guard."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import zmq

from supervisor import wire
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


def drain(sock: zmq.Socket, handle: Callable[[list[bytes]], Any],
          budget: int = DRAIN_BATCH) -> bool:
    """Handle up to `budget` messages waiting on `sock`, each under its own guard; True
    when the socket was left empty."""
    for _ in range(budget):
        try:
            frames = wire.recv(sock, wire.NOBLOCK)
        except zmq.Again:
            return True
        except wire.WireError as exc:
            log.warning("dropped a message: %s", exc)
            continue
        try:
            handle(frames)
        except Exception:
            log.exception("failed while handling a message of %d frames (%d bytes); the "
                          "master keeps running", len(frames), sum(map(len, frames)))
    return False
