"""The run directory: the master's own (0700), holding its ipc sockets and pid file.

A run_dir is used only when it is a real directory (not a symbolic link), owned
by the master's user and writable by nobody else: otherwise another user could
replace a socket or the pid file, and `supervisor exec`, `stop` or `status` would
talk to them. A run_dir the master creates is made 0700; an existing one of its
own whose group or others may only read it (a Tars node creates its data
directory 0755) is tightened to 0700. Anything else stops the start with one
line, exit code 2, and the directory untouched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

from supervisor.config import Config
from supervisor.errors import ConfigError

log = logging.getLogger("supervisor.master")

PID_NAME = "supervisor.pid"


class RunDirError(ConfigError):
    """The run directory (or a file in it) cannot be trusted; the message is one line."""


def ipc_path(endpoint: str) -> Path | None:
    return Path(endpoint[len("ipc://"):]) if endpoint.startswith("ipc://") else None


def _where(config: Config) -> str:
    return f"{config.path}: server.run_dir: {config.run_dir}"


def _open(config: Config) -> int | None:
    """An fd of run_dir, opened without following a symbolic link; None when it is missing."""
    try:
        return os.open(config.run_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW |
                       os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if os.path.islink(config.run_dir):
            raise RunDirError(f"{_where(config)} is a symbolic link; point run_dir at a "
                              "directory of this user's own") from None
        raise RunDirError(f"{_where(config)}: {exc.strerror or exc}") from None


def _check(config: Config, fd: int, created: bool) -> None:
    info = os.fstat(fd)
    if info.st_uid != os.geteuid():
        raise RunDirError(f"{_where(config)} is owned by uid {info.st_uid}, not by this user "
                          f"(uid {os.geteuid()})")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o022 and not created:
        raise RunDirError(f"{_where(config)} is writable by group or others (mode {mode:04o});"
                          " make it 0700, or remove it and let the master create it")
    if mode != 0o700:
        os.fchmod(fd, 0o700)
        if not created:
            log.info("run_dir %s had mode %04o; now 0700", config.run_dir, mode)


def prepare(config: Config) -> None:
    """Create run_dir 0700, or check the existing one; create an ipc listen socket's directory.

    Raises RunDirError when run_dir cannot be trusted.
    """
    created = False
    fd = _open(config)
    if fd is None:
        os.makedirs(config.run_dir.parent, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(config.run_dir, 0o700)
            created = True
        fd = _open(config)
        if fd is None:
            raise RunDirError(f"{_where(config)} vanished while it was being created")
    try:
        _check(config, fd, created)
    finally:
        os.close(fd)
    listen = ipc_path(config.listen)
    if listen is not None:
        os.makedirs(listen.parent, mode=0o700, exist_ok=True)


def check(config: Config) -> None:
    """Refuse (RunDirError) a run_dir that cannot be trusted, without creating or changing it."""
    fd = _open(config)
    if fd is None:
        return
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o022:
            _check(config, fd, created=False)
    finally:
        os.close(fd)


def remove_sockets(config: Config) -> None:
    """Remove the socket files a stopped master leaves behind."""
    for path in config.run_dir.glob("*.sock"):
        if not path.name.startswith("start-"):  # a `supervisor start` waiting on its own
            path.unlink(missing_ok=True)
    listen = ipc_path(config.listen)
    if listen is not None:
        listen.unlink(missing_ok=True)
