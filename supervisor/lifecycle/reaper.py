"""The reaper: what the workers' handlers started dies with the master, however the master dies.

Each worker leads its own process group, and the master kills a worker's group
when the worker goes (crash, recycle, reset, stop). A master killed with SIGKILL
cannot, and the processes a handler started would live on under PID 1. This
small process can: the master names each worker's group on a pipe, and when the
master dies (the parent-death signal, SIGUSR1 here, or the end of the pipe) the
reaper kills every group it knows and exits.

It runs in a fresh interpreter (`python -I reaper.py FD MASTER_PID`), so this
module imports nothing but the standard library.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1


class _MasterGone(Exception):
    pass


def _gone(signum: int, frame: object) -> None:
    raise _MasterGone


def _kill(groups: set[int]) -> None:
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def main(fd: int, master: int) -> None:
    """Follow the master's `+PGID` / `-PGID` lines; when it is gone, kill every group left."""
    for name in ("SIGTERM", "SIGHUP", "SIGINT"):  # a signal to the master's whole group
        signal.signal(getattr(signal, name), signal.SIG_IGN)  # must not take the reaper first
    signal.signal(signal.SIGUSR1, _gone)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGUSR1, 0, 0, 0)
    with contextlib.suppress(ImportError):
        import setproctitle

        setproctitle.setproctitle("supervisor: reaper")
    groups: set[int] = set()
    pending = b""
    try:
        if os.getppid() != master:
            raise _MasterGone
        while chunk := os.read(fd, 4096):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                if line[:1] == b"+":
                    groups.add(int(line[1:]))
                elif line[:1] == b"-":
                    groups.discard(int(line[1:]))
    except _MasterGone:
        pass
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    _kill(groups)


class Reaper:
    """The master's side: starts the reaper and names the groups it must kill."""

    def __init__(self) -> None:
        read, self.fd = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-I", os.path.abspath(__file__), str(read), str(os.getpid())],
            pass_fds=(read,), stdin=subprocess.DEVNULL, close_fds=True)
        os.close(read)
        os.set_blocking(self.fd, False)
        self.unsent = b""

    def watch(self, pgid: int) -> None:
        """A worker leads group `pgid`: kill it if the master dies."""
        self._send(b"+%d\n" % pgid)

    def forget(self, pgid: int) -> None:
        """The master killed group `pgid` itself."""
        self._send(b"-%d\n" % pgid)

    def _send(self, line: bytes) -> None:
        self.unsent += line
        try:
            sent = os.write(self.fd, self.unsent)
        except BlockingIOError:  # the reaper reads on; the rest goes with the next line
            return
        except OSError:  # the reaper died: nothing to tell
            self.unsent = b""
            return
        self.unsent = self.unsent[sent:]

    def close(self) -> None:
        """The master exits: the reaper sees the pipe end and goes."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(1.0)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
