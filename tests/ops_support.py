"""Helpers for the operations tests: a fake service manager, masters with extra env, the CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.support import ROOT, base_config


class Datagrams:
    """Plays systemd's side of NOTIFY_SOCKET: collects (arrival time, fields) per datagram."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.received: list[tuple[float, dict[str, str]]] = []

    def _receive(self, timeout: float) -> tuple[float, dict[str, str]] | None:
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(4096)
        except TimeoutError:
            return None
        fields = dict(line.split("=", 1) for line in data.decode().splitlines())
        entry = (time.monotonic(), fields)
        self.received.append(entry)
        return entry

    def wait(self, key: str, value: str = "1", timeout: float = 15.0) -> tuple[float, dict]:
        """The next datagram (after those already read) that carries KEY=VALUE."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            entry = self._receive(left)
            if entry is not None and entry[1].get(key) == value:
                return entry
        raise AssertionError(f"no {key}={value} within {timeout}s; got {self.received[-20:]}")

    def quiet(self, key: str, seconds: float) -> list[dict]:
        """Everything that arrives during `seconds` carrying KEY (expected: nothing)."""
        deadline = time.monotonic() + seconds
        found = []
        while (left := deadline - time.monotonic()) > 0:
            entry = self._receive(left)
            if entry is not None and key in entry[1]:
                found.append(entry[1])
        return found

    def drain(self) -> None:
        while self._receive(0.001) is not None:
            pass

    def close(self) -> None:
        self.sock.close()


def write_config(directory: Path, **overrides) -> Path:
    """A config file whose run_dir is `directory/run`; overrides as in `base_config`."""
    path = directory / "supervisor.yaml"
    path.write_text(yaml.safe_dump(base_config(directory / "run", **overrides)))
    return path


def cli(*args: str, timeout: float = 30.0, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m supervisor ARGS` to completion (bounded) and capture its output."""
    return subprocess.run([sys.executable, "-m", "supervisor", *args], cwd=ROOT,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)
