"""The worker processes behind the slots: started off the loop, watched, signalled, reaped.

Starts go to the `Launcher` thread, a few at a time, so the loop never waits for one.
Each worker leads a process group of its own (`supervisor.worker.child`), killed with
SIGKILL when the worker goes and, should the master itself be killed, by the `Reaper`:
nothing a handler started outlives its worker. An exit is watched through a pidfd,
which no child of the worker can hold open as it can multiprocessing's sentinel pipe.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
from collections.abc import Callable
from typing import Any

import zmq

from supervisor.lifecycle.launcher import Launched, Launcher
from supervisor.lifecycle.reaper import Reaper

START_WINDOW = max(2, os.cpu_count() or 1)
"""Workers starting at once: a hundred starting together would starve the master of CPU."""


def watch_exit(process: Any) -> int:
    """An fd readable once `process` has exited: a pidfd. multiprocessing's sentinel is a pipe
    that a handler's forked child inherits (fork and spawn methods) and keeps open.

    A forkserver's child that is gone already has been reaped by the forkserver, so it
    has no pid left to open; the forkserver has sent its exit code down the sentinel,
    which is readable then.
    """
    try:
        return os.pidfd_open(process.pid)
    except ProcessLookupError:
        return os.dup(process.sentinel)


class Processes:
    def __init__(self, method: str, poller: Any, finished: Callable[[float], None]) -> None:
        """`finished(now)` runs on the loop when starts finished (it calls `launched`)."""
        self.poller = poller
        self.by_ident: dict[bytes, Any] = {}
        self.sentinels: dict[int, bytes] = {}
        self.exit_fds: dict[bytes, int] = {}
        self.launching: set[bytes] = set()
        self.doomed: dict[bytes, int] = {}
        self.reaper = Reaper()
        self.launcher = Launcher(method, START_WINDOW, finished)
        poller.register(self.launcher.fileno(), zmq.POLLIN)

    def start(self, ident: bytes, target: Callable[..., Any], args: tuple, name: str,
              prepare: Callable[[], None] | None = None) -> None:
        self.launching.add(ident)
        self.launcher.submit(ident, target, args, name, prepare)

    def waiting(self, ident: bytes) -> bool:
        """Asked for, but its start has not begun: it will load the code as it is then."""
        return ident in self.launcher.queued

    def launched(self) -> list[Launched]:
        """The starts that finished: each new process is watched (and gets the signal it was
        sent meanwhile); those without a process (cancelled or failed) are returned too."""
        finished = self.launcher.collect()
        for launched in finished:
            ident, process = launched.ident, launched.process
            self.launching.discard(ident)
            signum = self.doomed.pop(ident, None)
            if process is None:
                continue
            fd = self.exit_fds[ident] = watch_exit(process)
            self.by_ident[ident] = process
            self.sentinels[fd] = ident
            self.poller.register(fd, zmq.POLLIN)
            self.reaper.watch(process.pid)
            if signum is not None:
                self.signal(ident, signum)
        return finished

    def exited(self, ident: bytes) -> bool:
        """Has `ident`'s process ended, though its exit is not handled yet? (one poll(2))"""
        fd = self.exit_fds.get(ident)
        return fd is not None and bool(select.select([fd], [], [], 0)[0])

    def reap(self, ident: bytes) -> int | None:
        """Forget a process that exited, kill what is left of its group; its exit code."""
        process, fd = self.by_ident.pop(ident), self.exit_fds.pop(ident)
        self.poller.unregister(fd)
        del self.sentinels[fd]
        os.close(fd)
        code = process.exitcode  # waitpid(2) for a child of ours: it has exited
        if code is None:  # a forkserver's child: the forkserver sends its code
            process.join(1.0)
            code = process.exitcode
        self.kill_group(process.pid)
        self.launcher.release(ident)
        process.close()
        return code

    def signal(self, ident: bytes, signum: int) -> None:
        """Signal a worker (SIGKILL: its whole group); one still being started gets the
        signal once started, or is not started at all."""
        process = self.by_ident.get(ident)
        if process is None:
            if ident in self.launching:
                if self.doomed.get(ident) != signal.SIGKILL:
                    self.doomed[ident] = signum
                self.launcher.cancel(ident)
            return
        if signum == signal.SIGKILL:
            self.kill_group(process.pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signum)

    def kill_group(self, pid: int) -> None:
        """Kill worker `pid`'s process group: whatever its handlers started goes with it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        self.reaper.forget(pid)

    def close(self, wait: float) -> None:
        """The master exits: the starts under way finish and are killed, every process is
        reaped (for `wait` seconds at most) and its group killed; the reaper goes."""
        if self.launching and self.launcher.wait(5.0):
            self.launched()
        for process in list(self.by_ident.values()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            process.join(wait)
            self.kill_group(process.pid)
        self.reaper.close()
