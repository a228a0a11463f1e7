"""Child processes: how they start, how they are tied to the master, how restarts back off."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

PR_SET_PDEATHSIG = 1


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
