"""Child processes: how they start, how they are tied to the master, how restarts back off."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import zmq

PR_SET_PDEATHSIG = 1

log = logging.getLogger("supervisor.process")


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent goes.

    This does not depend on Python code running in the child, so a worker stuck
    in a blocking C call still goes when the master (or the forkserver, which
    exits when the master does) is killed.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _release_forkserver()
    if os.getppid() == 1:
        os._exit(1)


def _release_forkserver() -> None:
    """Close the forkserver's "master alive" pipe end that multiprocessing hands every child.

    The forkserver exits when that pipe has no writer left; a worker keeping a
    copy would keep the forkserver, its parent, alive after a SIGKILLed master,
    and with it the worker itself (PDEATHSIG never fires).
    """
    from multiprocessing import forkserver

    server = forkserver._forkserver
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is not None and multiprocessing.parent_process() is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
        server._forkserver_alive_fd = None


def set_title(title: str) -> None:
    """Show the process's role in `ps` when setproctitle is installed."""
    try:
        import setproctitle
    except ImportError:
        return
    setproctitle.setproctitle(title)


def start_child(method: str, target: Callable[..., Any], *args: Any, name: str) -> Any:
    """Start `target(*args)` in a new process with the chosen start method."""
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(["supervisor.forkserver"])
    process = context.Process(target=target, args=args, name=name, daemon=False)
    process.start()
    return process


class Backoff:
    """Restart delays for a slot whose worker keeps dying: capped exponential, reset on success."""

    def __init__(self, first: float = 0.1, cap: float = 10.0) -> None:
        self.first = first
        self.cap = cap
        self.failures: dict[int, int] = {}

    def failed(self, slot: int) -> float:
        """Record one more failure of `slot`; return how long to wait before the next start."""
        count = self.failures.get(slot, 0) + 1
        self.failures[slot] = count
        return min(self.first * 2 ** (count - 1), self.cap)

    def succeeded(self, slot: int) -> None:
        self.failures.pop(slot, None)

    def failing(self) -> int:
        """How many slots are in a failure streak (the pool is degraded while any is)."""
        return len(self.failures)


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
        pause = self.RESTART_PAUSE if now - self.started_at < self.RESTART_PAUSE else 0.0
        log.warning("%s exited with code %s; restarting in %.1fs", self.name, code, pause)
        self.restart_at = now + pause

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
