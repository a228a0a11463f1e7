"""A supervised helper process of the master: restarted when it dies, stopped gracefully."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import zmq

from supervisor.lifecycle.spawn import exit_text, start_child

log = logging.getLogger("supervisor.process")


class Helper:
    """A helper child of the master (the scheduler, the keepalive reporter).

    Restarted when it dies, after a pause if it died young so that a crash loop
    cannot spin; once stopped, never restarted.
    """

    RESTART_PAUSE = 1.0

    def __init__(self, name: str, method: str, target: Callable[..., Any],
                 args: Callable[[], tuple], poller: Any) -> None:
        """`args()` is called at every start, so a restart gets fresh arguments."""
        self.name = name
        self.method = method
        self.target = target
        self.args = args
        self.poller = poller
        self.process: Any = None
        self.started_at = 0.0
        self.restart_at: float | None = None
        self.stopped = False
        self.replacing = False

    @property
    def running(self) -> bool:
        return self.process is not None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self, now: float) -> None:
        self.process = start_child(self.method, self.target, *self.args(), name=self.name)
        self.started_at = now
        self.poller.register(self.process.sentinel, zmq.POLLIN)
        log.debug("%s started (pid %d)", self.name, self.process.pid)

    def after_poll(self, events: dict[Any, int], now: float) -> None:
        """Reap the process if it ended; restart it when its pause is over."""
        if self.process is not None and self.process.sentinel in events:
            self._on_exit(now)
        if self.restart_at is not None and now >= self.restart_at and not self.stopped:
            self.restart_at = None
            self.start(now)

    def _on_exit(self, now: float) -> None:
        self.poller.unregister(self.process.sentinel)
        self.process.join(1.0)
        code = self.process.exitcode
        self.process.close()
        self.process = None
        if self.stopped:
            return
        if self.replacing:
            self.replacing = False
            self.restart_at = now
            return
        pause = self.RESTART_PAUSE if now - self.started_at < self.RESTART_PAUSE else 0.0
        log.warning("%s %s; restarting in %.1fs", self.name, exit_text(code), pause)
        self.restart_at = now + pause

    def replace(self) -> None:
        """Start the process anew (with fresh `args()`) once the running one has finished."""
        if self.stopped:
            return
        if self.process is None:
            self.restart_at = 0.0
            return
        self.replacing = True
        self.process.terminate()

    def stop(self) -> None:
        """Ask the process to finish (SIGTERM); it will not be restarted."""
        if self.stopped:
            return
        self.stopped = True
        self.restart_at = None
        if self.process is not None:
            self.process.terminate()

    def close(self, wait: float = 1.0) -> None:
        """The master is exiting: the process goes too, killed if it has not finished."""
        self.stop()
        if self.process is None:
            return
        self.process.join(wait)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join(wait)
        self.process = None
