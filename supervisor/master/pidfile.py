"""The pid file in run_dir, held under an exclusive lock for the master's whole life.

A lock (not the file's mere presence) decides whether a master is running, so a
file left behind by a killed master never blocks the next start. The file is
never opened through a symbolic link, and `stop` signals the pid it names only
when that process is the one holding the lock and is a supervisor master.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from pathlib import Path

import psutil

from supervisor.master.rundir import RunDirError

MASTER_TITLE = "supervisor: master"
PROBE_GRACE = 0.5
"""How long a start retries the lock: a status probe holds it for microseconds, a master
for ever, so a probe in a tight loop never makes a start fail."""


class AlreadyRunning(Exception):
    """Another live master holds the lock on this run_dir."""


def _open(path: Path, flags: int) -> int:
    """Open the pid file without following a symbolic link; it must be a file of our own."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RunDirError(f"{path} is a symbolic link; refusing to follow it (remove it)") \
                from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
        os.close(fd)
        raise RunDirError(f"{path} is not a regular file of this user's own; remove it")
    return fd


class PidFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> None:
        fd = _open(self.path, os.O_RDWR | os.O_CREAT)
        deadline = time.monotonic() + PROBE_GRACE
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.002)
                    continue
                os.close(fd)
                pid = read_pid(self.path)
                holder = f"with pid {pid}" if pid else "(the pid file is locked)"
                raise AlreadyRunning(f"a master is already running {holder} ({self.path})") \
                    from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self) -> None:
        """Unlock and remove the pid file, unless another file took its place meanwhile."""
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            mine, there = os.fstat(self.fd), self.path.lstat()
            if (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino):
                self.path.unlink()
        os.close(self.fd)
        self.fd = None


def read_pid(path: Path) -> int | None:
    """The pid of the live master holding `path`, or None when none holds it."""
    try:
        fd = _open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def lock_holder(path: Path) -> int | None:
    """The pid holding the exclusive lock on `path` as the kernel lists it (/proc/locks)."""
    try:
        info = path.lstat()
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            lines = locks.read().splitlines()
    except OSError:
        return None
    device = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    for line in lines:
        fields = line.split()
        if fields[1:4] == ["FLOCK", "ADVISORY", "WRITE"] and fields[5:6] == [device]:
            return int(fields[4]) if fields[4].isdigit() else None
    return None


def not_master(path: Path, pid: int) -> str | None:
    """Why `pid` (named by the pid file `path`) is not this run_dir's master, or None if it is.

    A forged pid file, even a locked one, must not make `stop` signal another process.
    """
    holder = lock_holder(path)
    if holder is not None and holder != pid:
        return f"the lock on {path} is held by pid {holder}, not by pid {pid}"
    try:
        process = psutil.Process(pid)
        title = " ".join(process.cmdline()).strip()
        uid = process.uids().effective
    except psutil.NoSuchProcess:
        return f"pid {pid} is not running"
    except psutil.AccessDenied:
        return f"pid {pid} belongs to another user"
    if uid != os.geteuid():
        return f"pid {pid} belongs to uid {uid}, not to this user"
    if title != MASTER_TITLE:
        return f"pid {pid} is {title[:60]!r}, not a supervisor master"
    return None
