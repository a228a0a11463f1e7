"""Real Redis and etcd servers for the cluster tests, on free ports in temporary directories.

Started once per test session, stopped by pid. Missing binaries skip the tests on a
developer's machine and fail them under CI=true, where scripts/test installs them.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        message = f"{binary} is not installed (scripts/test installs it with apt-get as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@dataclass
class Server:
    """One engine process; `url` is what a `cluster.backend` names."""

    kind: str
    port: int
    proc: subprocess.Popen
    dir: Path
    paused: bool = field(default=False)

    @property
    def url(self) -> str:
        return f"{self.kind}://127.0.0.1:{self.port}"

    def pause(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def stop(self) -> None:
        if self.paused:
            self.resume()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def _scratch(prefix: str) -> Path:
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def _await(ready, proc: subprocess.Popen, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with code {proc.returncode}")
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{what} not ready within {timeout}s")


def start_redis() -> Server:
    binary = need("redis-server")
    port, scratch = free_port(), _scratch("zs-redis-")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(scratch), "--logfile",
                             str(scratch / "redis.log")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)

    def ready() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    _await(ready, proc, "redis-server")
    return Server("redis", port, proc, scratch)


def start_etcd() -> Server:
    binary = need("etcd")
    port, peer, scratch = free_port(), free_port(), _scratch("zs-etcd-")
    client, peer_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{peer}"
    log = open(scratch / "etcd.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([binary, "--name", "t", "--data-dir", str(scratch / "data"),
                             "--listen-client-urls", client, "--advertise-client-urls", client,
                             "--listen-peer-urls", peer_url,
                             "--initial-advertise-peer-urls", peer_url,
                             "--initial-cluster", f"t={peer_url}"],
                            stdout=log, stderr=log, start_new_session=True)
    log.close()

    def ready() -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            conn.request("GET", "/health")
            return b'"true"' in conn.getresponse().read()
        finally:
            conn.close()

    _await(ready, proc, "etcd")
    return Server("etcd", port, proc, scratch)


STARTERS = {"redis": start_redis, "etcd": start_etcd}
