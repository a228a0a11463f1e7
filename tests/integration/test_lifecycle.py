"""Stopping, signals and failing workers, against a real master."""

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
import yaml

from supervisor import Client
from supervisor.errors import NotRunning, WorkerLost
from tests.support import MasterProcess, gone, wait_until


def _send_all(client: Client, count: int, body: bytes) -> None:
    for i in range(count):
        client._sock.send_multipart([i.to_bytes(2, "big"), b"sleep", body])


def _collect(client: Client, count: int, timeout: float) -> dict[int, tuple[bytes, dict]]:
    replies = {}
    deadline = time.monotonic() + timeout
    while len(replies) < count:
        wait = deadline - time.monotonic()
        assert wait > 0 and client._sock.poll(int(wait * 1000)), \
            f"only {len(replies)} of {count} answers"
        req_id, status, body = client._sock.recv_multipart()
        replies[int.from_bytes(req_id, "big")] = (status, json.loads(body))
    return replies


def test_sigterm_drains_in_flight_requests_and_leaves_no_child(start_master):
    master = start_master(pool={"num_workers": 4, "destroy_timeout": "30s"})
    children = [p.pid for p in master.descendants()]
    with Client(master.endpoint) as client:
        _send_all(client, 20, b"1")
        master.wait_for(r"stdout: sleeping 1s")
        master.signal(signal.SIGTERM)
        master.wait_for(r"stopping: draining")
        with Client(master.endpoint) as late, pytest.raises(NotRunning):
            late.exec("echo", b"too late", timeout=5)
        replies = _collect(client, 20, timeout=20)
    assert all(status == b"ok" for status, _ in replies.values())
    assert master.wait_exit(10) == 0
    wait_until(lambda: gone(children), timeout=2)


def test_sigterm_to_the_whole_group_still_drains(start_master):
    master = start_master(pool={"num_workers": 4})
    children = [p.pid for p in master.descendants()]
    with Client(master.endpoint) as client:
        _send_all(client, 4, b"1")
        master.wait_count(r"stdout: sleeping 1s", 4)
        os.killpg(master.pid, signal.SIGTERM)  # systemd's KillMode=control-group does this
        replies = _collect(client, 4, timeout=10)
    assert all(status == b"ok" for status, _ in replies.values()), replies
    assert master.wait_exit(10) == 0
    wait_until(lambda: gone(children), timeout=2)


def test_destroy_timeout_kills_long_requests(start_master):
    master = start_master(pool={"num_workers": 2, "destroy_timeout": "1s"})
    with Client(master.endpoint) as client:
        _send_all(client, 2, b"30")
        master.wait_count(r"stdout: sleeping 30s", 2)
        stopped = time.monotonic()
        master.signal(signal.SIGTERM)
        replies = _collect(client, 2, timeout=5)
    assert {body["code"] for _, body in replies.values()} == {WorkerLost.code}
    assert time.monotonic() - stopped < 5  # destroy_timeout 1s, far below the 30s sleep
    assert master.wait_exit(5) == 0


def test_sigquit_stops_at_once(start_master):
    master = start_master()
    children = [p.pid for p in master.descendants()]
    with Client(master.endpoint) as client:
        _send_all(client, 1, b"30")
        master.wait_for(r"stdout: sleeping 30s")
        master.signal(signal.SIGQUIT)
        replies = _collect(client, 1, timeout=5)
    assert replies[0][1]["code"] == WorkerLost.code
    assert master.wait_exit(5) == 0
    wait_until(lambda: gone(children), timeout=2)


def test_sighup_replaces_every_worker(start_master):
    master = start_master()
    before = master.worker_pids()
    master.signal(signal.SIGHUP)
    after = wait_until(lambda: (pids := master.worker_pids()) and len(pids) == 2
                       and not set(pids.values()) & set(before.values()) and pids)
    assert sorted(after) == [0, 1]
    with Client(master.endpoint) as client:
        assert client.exec("echo", b"still here") == b"still here"


def test_ttin_ttou_scale_the_pool(start_master):
    master = start_master()
    master.signal(signal.SIGTTIN)
    wait_until(lambda: sorted(master.worker_pids()) == [0, 1, 2])
    master.signal(signal.SIGTTOU)
    wait_until(lambda: sorted(master.worker_pids()) == [0, 1])


def test_worker_failing_at_start_backs_off_and_recovers(start_master, tmp_path):
    marker = tmp_path / "broken"
    os.environ["FLAKY_MARKER"] = str(marker)
    try:
        master = start_master(pool={"num_workers": 1},
                              handlers={"ok": "tests.flaky_import:ok"})
    finally:
        del os.environ["FLAKY_MARKER"]
    victim = master.worker_pids()[0]
    marker.touch()
    os.kill(victim, signal.SIGKILL)
    master.wait_for(r"pool degraded: worker 0 fails at start")
    master.wait_count(r"next try in", 5, timeout=10)
    delays = [float(m) for m in _delays(master)][:5]
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.6]
    assert master.count(r"pool degraded") == 1
    marker.unlink()
    master.wait_for(r"pool healthy again", timeout=10)
    with Client(master.endpoint) as client:
        assert client.exec("ok") == b"ok"


def _delays(master) -> list[str]:
    regex = re.compile(r"next try in (\d+\.\d+)s")
    return [m.group(1) for line in list(master.lines) if (m := regex.search(line))]


def test_run_dir_is_private(start_master):
    master = start_master()
    run_dir = Path(master.endpoint[len("ipc://"):]).parent
    assert run_dir.stat().st_mode & 0o777 == 0o700


def test_second_master_on_same_run_dir_refuses(start_master):
    first = start_master()
    second = MasterProcess(yaml.safe_load(first.config_path.read_text()))
    try:
        assert second.wait_exit(10) == 1
        second.wait_for(rf"already running with pid {first.pid}")
    finally:
        second.stop()
    with Client(first.endpoint) as client:
        assert client.exec("echo", b"x") == b"x"
