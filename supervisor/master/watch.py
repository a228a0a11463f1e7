"""Noticing that the run directory, or a file the master keeps in it, was removed.

Without its pid file and sockets a master can be neither found nor stopped by the
command line, and a second master could start beside it. Deletion is noticed at
once through inotify (no wake-ups while nothing happens), or, where inotify is
not available, by a look every few seconds; the master then stops with one log
line (exit code 1), so that a service manager restarts it with a fresh run_dir.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import struct
import time
from pathlib import Path
from typing import Any

import zmq

from supervisor.errors import EXIT_FAILURE
from supervisor.master.rundir import PID_NAME

log = logging.getLogger("supervisor.master")

_IN_MOVED_FROM = 0x040
_IN_DELETE = 0x200
_IN_DELETE_SELF = 0x400
_IN_MOVE_SELF = 0x800
_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")
POLL_EVERY = 5.0
"""How often to look when inotify is not available."""


def _inotify(directory: Path) -> int | None:
    """An inotify fd watching `directory` and its entries being removed, or None."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
    except (OSError, AttributeError):
        return None
    if fd < 0:
        return None
    mask = _IN_DELETE | _IN_MOVED_FROM | _IN_DELETE_SELF | _IN_MOVE_SELF
    if libc.inotify_add_watch(fd, os.fsencode(directory), mask) < 0:
        os.close(fd)
        return None
    return fd


def _events(data: bytes) -> list[tuple[int, str]]:
    """(mask, name) of each inotify event in `data`."""
    events, offset = [], 0
    while offset + _EVENT.size <= len(data):
        _wd, mask, _cookie, size = _EVENT.unpack_from(data, offset)
        offset += _EVENT.size
        name = data[offset:offset + size].rstrip(b"\0").decode(errors="replace")
        offset += size
        events.append((mask, name))
    return events


def ours(name: str) -> bool:
    """A file the master keeps in run_dir: its pid file and its sockets (not the socket a
    waiting `supervisor start` makes there)."""
    return name == PID_NAME or (name.endswith(".sock") and not name.startswith("start-"))


class RunDirWatch:
    """A service of the loop (`supervisor.lifecycle.service.Service`) with no process."""

    name = "run_dir watch"

    def __init__(self, directory: Path, poller: Any, master: Any) -> None:
        """`master.stop(graceful=True)` is called, with exit code 1, once run_dir is lost."""
        self.directory = directory
        self.poller = poller
        self.master = master
        self.stopped = False
        self.seen: dict[str, tuple[int, int]] = {}
        self.fd = _inotify(directory)
        self.next_look: float | None = None
        if self.fd is None:
            log.warning("cannot watch run_dir %s with inotify; looking every %gs instead",
                        directory, POLL_EVERY)
            self.next_look = time.monotonic() + POLL_EVERY
        else:
            poller.register(self.fd, zmq.POLLIN)

    def sockets(self) -> dict:
        return {}

    def pool_ready(self, now: float) -> None:
        pass

    def after_poll(self, events: dict[Any, int], now: float) -> None:
        if self.stopped:
            return
        if self.fd is not None and self.fd in events:
            reason = self._read()
        elif self.next_look is not None and now >= self.next_look:
            self.next_look = now + POLL_EVERY
            reason = self._look()
        else:
            return
        if reason is not None:
            log.critical("%s; stopping, as a master without its run directory can be neither "
                         "found nor stopped from the command line", reason)
            self.master.exit_code = EXIT_FAILURE
            self.master.stop(graceful=True)

    def _read(self) -> str | None:
        data = b""
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self.fd, 65536):
                data += chunk
        for mask, name in _events(data):
            if mask & (_IN_DELETE_SELF | _IN_MOVE_SELF):
                return f"run_dir {self.directory} was removed"
            if ours(name) and not os.path.lexists(self.directory / name):
                return f"{self.directory / name} was removed"  # not re-made by one of our binds
        return None

    def _look(self) -> str | None:
        """Without inotify: each file seen before must still be there, the same file."""
        now = {}
        with contextlib.suppress(OSError):
            for path in self.directory.iterdir():
                if ours(path.name):
                    info = path.lstat()
                    now[path.name] = (info.st_dev, info.st_ino)
        for name, identity in self.seen.items():
            if now.get(name) != identity:
                return f"{self.directory / name} was removed or replaced"
        self.seen = {**now, **self.seen}
        return None

    def next_deadline(self) -> float | None:
        return None if self.stopped else self.next_look

    def stop(self) -> None:
        """The master is stopping: it removes its files itself from now on."""
        self.stopped = True

    def draining(self) -> bool:
        return False

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(KeyError, zmq.ZMQError):
                self.poller.unregister(self.fd)
            os.close(self.fd)
            self.fd = None
