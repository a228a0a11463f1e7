"""The scheduler as a real spawned process talking real ZeroMQ over ipc.

The test plays the master: it binds a ROUTER socket in a 0700 directory and
reads `[identity, b"tick", json]` frames. Every wait is bounded.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import shutil
import signal
import stat
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psutil
import pytest
import zmq

from supervisor.scheduling.scheduler import run_scheduler

SPAWN = multiprocessing.get_context("spawn")
INTERVAL = 0.1
# Room for a spawned interpreter to import pyzmq on a busy two-core machine.
STARTUP = 1.5


@dataclass
class Arrival:
    at: float
    msg: dict[str, Any]
    identity: bytes

    def __getattr__(self, key: str) -> Any:
        try:
            return self.msg[key]
        except KeyError:
            raise AttributeError(key) from None


class FakeMaster:
    def __init__(self, sock: zmq.Socket, endpoint: str) -> None:
        self.sock = sock
        self.endpoint = endpoint

    def recv(self, timeout: float) -> Arrival:
        if not self.sock.poll(int(timeout * 1000)):
            raise AssertionError(f"no tick within {timeout}s")
        identity, kind, body = self.sock.recv_multipart()
        at = time.time()
        assert kind == b"tick"
        return Arrival(at, json.loads(body), identity)

    def recv_until(self, deadline: float) -> list[Arrival]:
        """Everything that arrives before the monotonic `deadline`."""
        got = []
        while (left := deadline - time.monotonic()) > 0:
            if self.sock.poll(max(1, int(left * 1000))):
                got.append(self.recv(0))
        return got

    def drain(self, quiet: float = 0.3, limit: float = 3.0) -> list[Arrival]:
        """What is still in flight: read until nothing came for `quiet` seconds."""
        got = []
        end = time.monotonic() + limit
        while time.monotonic() < end and self.sock.poll(int(quiet * 1000)):
            got.append(self.recv(0))
        return got


@pytest.fixture
def master() -> Iterator[FakeMaster]:
    run_dir = tempfile.mkdtemp(prefix="zs-")
    os.chmod(run_dir, 0o700)
    assert stat.S_IMODE(os.stat(run_dir).st_mode) == 0o700
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    endpoint = f"ipc://{run_dir}/scheduler.sock"
    sock.bind(endpoint)
    try:
        yield FakeMaster(sock, endpoint)
    finally:
        sock.close()
        ctx.term()
        shutil.rmtree(run_dir, ignore_errors=True)


Start = Callable[..., multiprocessing.process.BaseProcess]


@pytest.fixture
def start(master: FakeMaster) -> Iterator[Start]:
    started: list[multiprocessing.process.BaseProcess] = []

    def start(schedules: list[dict], resume: dict | None = None, state: str | None = None) -> Any:
        proc = SPAWN.Process(
            target=run_scheduler, args=(master.endpoint, schedules, resume or {}, None, state),
            daemon=True)
        proc.start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.is_alive():
            proc.kill()
        proc.join(5)


def every(anchor: float, interval: float = INTERVAL, name: str = "t") -> dict:
    return {"name": name, "every": interval, "cron": None, "anchor": anchor}


def test_steady_ticks_are_numbered_chained_and_do_not_drift(
    master: FakeMaster, start: Start
) -> None:
    anchor = time.time() + STARTUP
    proc = start([every(anchor)])
    ticks = [master.recv(STARTUP + 1)]
    cpu_at: dict[int, float] = {}
    while ticks[-1].scheduledAt < anchor + 3.0 - INTERVAL / 2:
        ticks.append(master.recv(1.0))
        if len(ticks) in (5, 25):
            times = psutil.Process(proc.pid).cpu_times()
            cpu_at[len(ticks)] = times.user + times.system
    ticks.pop()  # the one at anchor + 3.0 is past the window
    assert [t.tick for t in ticks] == list(range(30))
    assert all(t.missed == 0 and t.schedule == "t" for t in ticks)
    assert ticks[0].lastTick is None
    assert [t.lastTick for t in ticks[1:]] == [t.scheduledAt for t in ticks[:-1]]
    for k, tick in enumerate(ticks):
        assert tick.scheduledAt == pytest.approx(anchor + k * INTERVAL, abs=1e-6)
        assert tick.nextAt == pytest.approx(tick.scheduledAt + INTERVAL, abs=1e-6)
    late = [t.at - t.scheduledAt for t in ticks]
    assert min(late) > -0.001, "a tick was sent before it was due"
    assert statistics.median(late) < 0.005
    drift = statistics.median(late[-5:]) - statistics.median(late[:5])
    assert abs(drift) < 0.005
    # Waiting is done in poll(): 2 s of 100 ms ticks cost a few ms of CPU, not a core.
    assert cpu_at[25] - cpu_at[5] < 0.2


def test_a_stall_yields_one_coalesced_tick_not_a_burst(master: FakeMaster, start: Start) -> None:
    anchor = time.time() + STARTUP
    proc = start([every(anchor)])
    last = [master.recv(STARTUP + 1) for _ in range(5)][-1]
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        # The one-second stall is the scenario itself; ticks already sent still arrive.
        in_flight = master.recv_until(time.monotonic() + 1.0)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    after = [*in_flight, master.recv(1.0)]
    while after[-1].missed == 0 and len(after) < 4:
        after.append(master.recv(1.0))
    *on_time, coalesced = after
    assert [t.tick for t in on_time] == list(range(last.tick + 1, last.tick + 1 + len(on_time)))
    previous = on_time[-1] if on_time else last
    assert 8 <= coalesced.missed <= 11
    assert coalesced.tick == previous.tick + coalesced.missed + 1
    assert coalesced.lastTick == previous.scheduledAt
    assert coalesced.scheduledAt == pytest.approx(anchor + coalesced.tick * INTERVAL, abs=1e-6)
    assert coalesced.scheduledAt <= coalesced.at < coalesced.scheduledAt + INTERVAL
    following = [master.recv(1.0) for _ in range(3)]
    assert [t.tick for t in following] == [coalesced.tick + i for i in (1, 2, 3)]
    assert all(t.missed == 0 for t in following)
    # No burst: the next tick waited for its own slot.
    assert following[0].at >= following[0].scheduledAt - 0.001
    assert following[0].at - coalesced.at > INTERVAL / 4


def test_a_restarted_scheduler_continues_the_numbering(master: FakeMaster, start: Start) -> None:
    anchor = time.time() + STARTUP
    proc = start([every(anchor)])
    seen = [master.recv(STARTUP + 1) for _ in range(5)]
    proc.kill()
    proc.join(5)
    seen += master.drain()
    last = seen[-1]
    assert [t.tick for t in seen] == list(range(last.tick + 1))
    time.sleep(0.3)  # the outage being simulated: slots pass with no scheduler running
    resume = {"t": {"next_tick": last.tick + 1, "last_tick": last.scheduledAt, "anchor": anchor}}
    start([every(anchor)], resume)
    first = master.recv(STARTUP + 1)
    assert first.tick > last.tick + 1
    assert first.missed == first.tick - last.tick - 1
    assert first.missed >= 3
    assert first.lastTick == last.scheduledAt
    assert first.scheduledAt == pytest.approx(anchor + first.tick * INTERVAL, abs=1e-6)
    second = master.recv(1.0)
    assert (second.tick, second.missed, second.lastTick) == (first.tick + 1, 0, first.scheduledAt)


def test_the_journal_is_written_before_a_tick_leaves_a_second_ahead(
    master: FakeMaster, start: Start, tmp_path
) -> None:
    path = tmp_path / "schedules.json"
    anchor = time.time() + STARTUP
    start([every(anchor)], state=str(path))
    for _ in range(6):
        tick = master.recv(STARTUP + 1)
        saved = json.loads(path.read_text())["schedules"]["t"]
        # Already on disk when it arrives, with the slots of the second ahead reserved.
        assert tick.tick <= saved["tick"] <= tick.tick + 10
        assert saved["slot"] == pytest.approx(anchor + saved["tick"] * INTERVAL, abs=1e-6)
        assert saved["anchor"] == anchor
    writes = {json.loads(path.read_text())["schedules"]["t"]["tick"]}
    while len(writes) < 2:
        master.recv(1.0)
        writes.add(json.loads(path.read_text())["schedules"]["t"]["tick"])
    # Renewed when less than half a second of slots is left: not a write per tick.
    assert sorted(writes)[1] - sorted(writes)[0] >= 5


def test_cron_and_every_side_by_side(master: FakeMaster, start: Start) -> None:
    # Two start-up allowances: this spawned interpreter imports more before it ticks, and a
    # tick 0 due before it is up would come late (the cron's) or be missed (the every's).
    anchor = time.time() + 2 * STARTUP
    cron = {"name": "c", "every": None, "cron": "* * * * * *", "tz": "UTC", "anchor": anchor}
    start([cron, every(anchor, 0.25, "e")])
    by_name: dict[str, list[Arrival]] = {"c": [], "e": []}
    deadline = time.monotonic() + 2 * STARTUP + 5.0
    while len(by_name["c"]) < 2 or len(by_name["e"]) < 8:
        tick = master.recv(max(0.0, deadline - time.monotonic()))
        by_name[tick.schedule].append(tick)
    for ticks, interval in ((by_name["c"], 1.0), (by_name["e"], 0.25)):
        assert [t.tick for t in ticks] == list(range(len(ticks)))
        # Neither holds the other up: no slot is missed and each tick leaves within its own
        # slot (how promptly is test_steady_ticks_are_numbered_chained_and_do_not_drift's).
        assert all(t.missed == 0 and t.at - t.scheduledAt < interval for t in ticks), \
            [(t.schedule, t.tick, t.missed, round(t.at - t.scheduledAt, 3)) for t in ticks]
    seconds = [t.scheduledAt for t in by_name["c"]]
    assert all(s == int(s) for s in seconds)
    assert [b - a for a, b in itertools.pairwise(seconds)] == [1.0] * (len(seconds) - 1)


def test_sigterm_interrupts_a_long_wait(master: FakeMaster, start: Start) -> None:
    # Anchored now: tick 0 goes out as soon as the process is up, then it sleeps an hour.
    proc = start([every(time.time(), 3600.0)])
    master.recv(STARTUP + 1)
    began = time.monotonic()
    proc.terminate()
    proc.join(2)
    assert proc.exitcode == 0
    assert time.monotonic() - began < 0.5


def test_stop_message_from_the_master(master: FakeMaster, start: Start) -> None:
    proc = start([every(time.time(), 3600.0)])
    identity = master.recv(STARTUP + 1).identity
    began = time.monotonic()
    master.sock.send_multipart([identity, b"hello"])
    master.sock.send_multipart([identity, b"stop"])
    proc.join(2)
    assert proc.exitcode == 0
    assert time.monotonic() - began < 0.5


def _spawn_and_wait(endpoint: str, schedules: list[dict], conn: Any) -> None:
    """Stands in for the master: starts a scheduler, reports its pid, then idles."""
    child = SPAWN.Process(target=run_scheduler, args=(endpoint, schedules, {}))
    child.start()
    conn.send(child.pid)
    time.sleep(60)


def test_scheduler_dies_with_its_parent(master: FakeMaster) -> None:
    ours, theirs = SPAWN.Pipe()
    schedules = [every(time.time(), 3600.0)]
    middle = SPAWN.Process(target=_spawn_and_wait, args=(master.endpoint, schedules, theirs))
    middle.start()
    pid = None
    try:
        assert ours.poll(STARTUP + 5)
        pid = ours.recv()
        master.recv(STARTUP + 5)  # the scheduler is running, its death signal armed
        middle.kill()
        middle.join(5)
        end = time.monotonic() + 2.0
        while time.monotonic() < end and _alive(pid):
            time.sleep(0.02)
        assert not _alive(pid)
    finally:
        if middle.is_alive():
            middle.kill()
            middle.join(5)
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
