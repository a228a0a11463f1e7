"""Recycling, exec_ttl, reset and scaling under load: no request fails, none hangs."""

import json
import signal
import time

import psutil
import pytest

from supervisor import Client
from supervisor.errors import ExecTimeout
from tests.support import wait_until


def _whoami_counts(endpoint: str, total: int, clients: int = 2,
                   handler: bytes = b"whoami") -> dict[int, int]:
    per_pid: dict[int, int] = {}
    with Client(endpoint) as client:
        sock = client._sock
        in_flight = 0
        sent = 0
        while sent < total or in_flight:
            while sent < total and in_flight < clients * 4:
                sock.send_multipart([sent.to_bytes(4, "big"), handler, b""])
                sent += 1
                in_flight += 1
            assert client._sock.poll(10000), "a request was left without an answer"
            _, status, body = sock.recv_multipart()
            in_flight -= 1
            assert status == b"ok", body
            pid = json.loads(body)["pid"]
            per_pid[pid] = per_pid.get(pid, 0) + 1
    return per_pid


def test_max_jobs_recycles_with_jitter_and_never_empties_the_pool(start_master):
    # A 5 ms handler: each worker lives ~250 ms, longer than a successor takes to start
    # (with no-op handlers a worker can use up 50 jobs before any successor could start).
    master = start_master(pool={"num_workers": 2, "max_jobs": 50},
                          handlers={"whoami": "tests.handlers:whoami_after_5ms"})
    per_pid = _whoami_counts(master.endpoint, 1000)
    assert sum(per_pid.values()) == 1000
    assert max(per_pid.values()) <= 55
    assert len(per_pid) >= 1000 // 55
    assert master.count(r"no worker is serving") == 0
    master.wait_for(r"recycling worker \d \(pid \d+\): \d+ of 5\d jobs done \(max_jobs 50\)")


def test_max_worker_memory_recycles_a_leaking_worker(start_master):
    master = start_master(pool={"num_workers": 1,
                                "supervisor": {"max_worker_memory": 80, "watch_tick": "100ms"}},
                          handlers={"hoard": "tests.handlers:hoard"})
    pids = []
    with Client(master.endpoint) as client:
        for _ in range(40):
            pids.append(json.loads(client.exec("hoard", timeout=10))["pid"])
            if len(set(pids)) > 1:
                break
            time.sleep(0.02)  # pace the calls so watch ticks fall between them
    assert len(set(pids)) > 1, "the worker was never recycled"
    master.wait_for(r"recycling worker 0 \(pid \d+\): RSS \d+ MB above max_worker_memory 80 MB")


def test_exec_ttl_cuts_off_a_slow_request(start_master):
    master = start_master(pool={"num_workers": 1, "supervisor": {"exec_ttl": "500ms"}})
    with Client(master.endpoint) as client:
        before = json.loads(client.exec("whoami"))["pid"]
        started = time.monotonic()
        with pytest.raises(ExecTimeout, match="exec_ttl"):
            client.exec("sleep", b"5", timeout=10)
        assert time.monotonic() - started < 1.0
        after = json.loads(client.exec("whoami", timeout=10))
    assert after["pid"] != before and after["id"] == 0
    assert not psutil.pid_exists(before) or psutil.Process(before).status() == "zombie"


def test_sighup_reset_under_load_fails_nothing(start_master, start_load):
    master = start_master(pool={"num_workers": 2})
    before = set(master.worker_pids().values())
    load = start_load(master.endpoint, clients=2).wait_running()
    master.signal(signal.SIGHUP)
    wait_until(lambda: len(master.worker_pids()) == 2
               and not set(master.worker_pids().values()) & before, timeout=10)
    outcomes, _ = load.stop()
    assert set(outcomes) == {"ok"}, outcomes
    assert outcomes["ok"] >= 2


def test_ttin_ttou_under_load_fails_nothing(start_master, start_load):
    master = start_master(pool={"num_workers": 2})
    load = start_load(master.endpoint, clients=2).wait_running()
    for signum, size in ((signal.SIGTTIN, 3), (signal.SIGTTIN, 4), (signal.SIGTTOU, 3)):
        seen = len(master.lines)
        master.signal(signum)  # one at a time: signals of one kind sent together merge
        master.wait_for(rf"pool size is now {size}", start=seen)
    wait_until(lambda: sorted(master.worker_pids()) == [0, 1, 2])
    outcomes, _ = load.stop()
    assert set(outcomes) == {"ok"}, outcomes
