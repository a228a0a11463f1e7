"""The run directory: private (0700), it holds the master's ipc sockets and pid file."""

from __future__ import annotations

import os
from pathlib import Path

from supervisor.config import Config


def _ipc_path(endpoint: str) -> Path | None:
    return Path(endpoint[len("ipc://"):]) if endpoint.startswith("ipc://") else None


def prepare(config: Config) -> None:
    """Create run_dir (and the listen socket's directory) 0700, tightening an existing run_dir."""
    listen = _ipc_path(config.listen)
    for directory in {config.run_dir, *([listen.parent] if listen else [])}:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(config.run_dir, 0o700)


def remove_sockets(config: Config) -> None:
    """Remove the socket files a stopped master leaves behind."""
    for path in config.run_dir.glob("*.sock"):
        path.unlink(missing_ok=True)
    listen = _ipc_path(config.listen)
    if listen is not None:
        listen.unlink(missing_ok=True)
