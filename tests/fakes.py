"""Fakes for in-process tests of the master, its operations and its worker slots.

Processes are pipes (the read end is the sentinel; closing the write end is the exit),
sockets record what is sent, and signals are recorded instead of delivered: the loop's
event handlers run exactly as in production, without a single child process.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from supervisor import wire
from supervisor.config import Config, LogConfig, Policy, PoolConfig
from supervisor.lifecycle import launcher, processes
from supervisor.lifecycle.slots import Workers
from supervisor.master.backend import Backend
from supervisor.master.clients import Clients
from supervisor.master.loop import Master
from supervisor.worker import journal

_PIDS = itertools.count(4_000_000)  # above any real pid_max, so never a real process


class FakeProcess:
    """A child that never ran: `exit(code)` makes its sentinel readable, as a real exit does."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pid = next(_PIDS)
        self.sentinel, self._alive = os.pipe()
        self.exitcode: int | None = None

    def exit(self, code: int) -> None:
        if self.exitcode is None:
            self.exitcode = code
            os.close(self._alive)

    def join(self, timeout: float | None = None) -> None:
        pass

    def close(self) -> None:
        os.close(self.sentinel)


class FakeSocket:
    """Records every multipart message sent; `send(frame, SNDMORE)` parts are joined."""

    def __init__(self) -> None:
        self.sent: list[list[bytes]] = []
        self._parts: list[bytes] = []
        self.unreachable: set[bytes] = set()

    def send_multipart(self, frames: list[bytes], flags: int = 0) -> None:
        self._check(frames[0])
        self.sent.append(list(frames))

    def send(self, frame: bytes, flags: int = 0) -> None:
        if not self._parts:
            self._check(frame)
        self._parts.append(bytes(frame))
        if not flags & wire.SNDMORE:
            self.sent.append(self._parts)
            self._parts = []

    def get_monitor_socket(self, events: int = 0) -> FakeMonitor:
        return FakeMonitor()

    def _check(self, ident: bytes) -> None:
        if ident in self.unreachable:
            import zmq

            raise zmq.ZMQError(zmq.EHOSTUNREACH)

    def to(self, ident: bytes) -> list[list[bytes]]:
        return [frames[1:] for frames in self.sent if frames[0] == ident]


class FakeMonitor:
    """A socket monitor that never has an event."""

    rcvhwm = 0

    def recv(self, flags: int = 0) -> bytes:
        import zmq

        raise zmq.Again

    def close(self, linger: int | None = None) -> None:
        pass


class Children:
    """Stands in for start_child and os.kill: every process started, every signal sent."""

    def __init__(self) -> None:
        self.processes: list[FakeProcess] = []
        self.signals: list[tuple[int, int]] = []
        self.groups: list[tuple[int, int]] = []

    def start(self, method: str, target: Any, *args: Any, name: str) -> FakeProcess:
        process = FakeProcess(name)
        self.processes.append(process)
        return process

    def kill(self, pid: int, signum: int) -> None:
        self.signals.append((pid, signum))
        for process in self.processes:
            if process.pid == pid and signum == signal.SIGKILL:
                process.exit(-signal.SIGKILL)

    def killpg(self, pgid: int, signum: int) -> None:
        self.groups.append((pgid, signum))

    def signalled(self, signum: int) -> list[int]:
        return [pid for pid, sent in self.signals if sent == signum]


def make_config(tmp_path: Path, workers: int = 2, schedules: tuple = (),
                policy: Policy | None = None, **pool: Any) -> Config:
    return Config(path=str(tmp_path / "supervisor.yaml"), run_dir=tmp_path / "run",
                  listen=f"ipc://{tmp_path}/run/exec.sock", log=LogConfig(),
                  pool=PoolConfig(num_workers=workers, supervisor=policy or Policy(), **pool),
                  handlers={"echo": "tests.handlers:echo"}, interceptors={},
                  schedules=list(schedules),
                  keepalive_enabled=None, keepalive_interval=30.0, tars_config=None,
                  metrics_address=None, allow=[])


class Harness:
    """A Master whose event handlers run in-process on fakes (no loop, no children)."""

    def __init__(self, config: Config, children: Children) -> None:
        self.children = children
        config.run_dir.mkdir(parents=True, exist_ok=True)  # the workers' journals live there
        self.master = master = Master(config, logs=None)
        master.frontend = self.frontend = FakeSocket()
        master.backend = self.backend = FakeSocket()
        master.backend_link = Backend(master, self.backend)
        master.clients = Clients(self.frontend, master.pool, master.ops,
                                 {name.encode() for name in config.handlers}, master._dispatch,
                                 config.limits.message_size)
        master.workers = Workers(config, master.pool, self.backend, master.poller,
                                 master.ops.metrics.restart)
        master.workers.start_all(0.0)
        self.settle()

    def settle(self, now: float = 0.0) -> None:
        """Let the launcher thread finish the starts asked for, and the slots hear of them."""
        workers = self.master.workers
        assert workers.launcher.wait(5.0), "the launcher did not finish its starts"
        workers.on_launched(now)

    @property
    def idents(self) -> list[bytes]:
        self.settle()
        return list(self.master.workers.processes)

    def ready(self, ident: bytes, pid: int | None = None) -> None:
        self.settle()
        process = self.master.workers.processes[ident]
        self.master.backend_link.on_message([ident, wire.READY, json.dumps(
            {"pid": pid or process.pid}).encode()])
        self.master._flush()

    def ready_all(self) -> None:
        for ident in self.idents:
            self.ready(ident)

    def request(self, req_id: bytes, handler: bytes = b"echo", body: bytes = b"x",
                client: bytes = b"client") -> None:
        self.master.clients.on_request([client, req_id, handler, body])
        self.master._flush()

    def reply(self, ident: bytes, body: bytes = b"done", status: bytes = wire.OK) -> None:
        """The worker answers the oldest request it holds."""
        seq = self.master.pool.workers[ident].held[0].seq
        done = wire.done(wire.S_OK if status == wire.OK else wire.S_ERR, seq, 0.0001)
        self.master.backend_link.on_message([ident, done + body])
        self.master._flush()

    def exit(self, ident: bytes, code: int) -> None:
        """The worker dies running the oldest request it holds, as its journal then says."""
        self.settle()
        worker = self.master.pool.workers.get(ident)
        if worker is not None and worker.held:
            path = journal.path_for(self.master.config.run_dir, ident)
            journal.Journal(path).started(worker.held[0].seq)
        self.master.workers.processes[ident].exit(code)
        self.master.backend_link.on_exit(ident)
        self.master._flush()

    def jobs(self, ident: bytes) -> list[tuple[bytes, bytes]]:
        """(handler, body) of each request sent to worker `ident`, in order."""
        found = []
        for frames in self.backend.to(ident):
            for job in frames:
                if job != wire.STOP:
                    _, _, handler, _, start = wire.parse_job(job)
                    found.append((handler, job[start:]))
        return found

    def answers(self, client: bytes = b"client") -> dict[bytes, tuple[bytes, bytes]]:
        return {frames[0]: (frames[1], frames[2]) for frames in self.frontend.to(client)}

    def close(self) -> None:
        self.master.context.destroy(linger=0)


class FakeReaper:
    """The groups the reaper would kill if the master died."""

    def __init__(self) -> None:
        self.groups: set[int] = set()

    def watch(self, pgid: int) -> None:
        self.groups.add(pgid)

    def forget(self, pgid: int) -> None:
        self.groups.discard(pgid)

    def close(self) -> None:
        pass


@pytest.fixture
def children(monkeypatch) -> Children:
    fake = Children()
    monkeypatch.setattr(launcher, "start_child", fake.start)
    monkeypatch.setattr(processes, "Reaper", FakeReaper)
    monkeypatch.setattr(processes, "watch_exit", lambda process: os.dup(process.sentinel))
    monkeypatch.setattr(processes, "START_WINDOW", 1024)  # fakes never tell the launcher "ready"
    monkeypatch.setattr(os, "kill", fake.kill)
    monkeypatch.setattr(os, "killpg", fake.killpg)
    return fake


@pytest.fixture
def harness(tmp_path, children):
    built: list[Harness] = []

    def build(workers: int = 2, **pool: Any) -> Harness:
        made = Harness(make_config(tmp_path, workers, **pool), children)
        built.append(made)
        return made

    yield build
    for made in built:
        made.close()


