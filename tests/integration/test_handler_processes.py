"""Nothing a handler starts outlives its worker: each worker leads a process group of its own,
killed with it on every path (crash, recycle, graceful stop, a killed master)."""

from __future__ import annotations

import json
import os
import signal
import time

import psutil
import pytest

from supervisor import Client
from tests.ops_support import cli, write_config
from tests.support import gone, wait_until

HANDLERS = {"spawn_sleep": "tests.handlers:spawn_sleep", "fork_child": "tests.handlers:fork_child",
            "echo": "tests.handlers:echo"}


def _start_children(endpoint: str) -> tuple[list[int], int]:
    """A `sleep 1000` and a forked child: their pids, and the pid of the worker that forked."""
    with Client(endpoint) as client:
        spawned = json.loads(client.exec("spawn_sleep", b""))
        forked = json.loads(client.exec("fork_child", b""))
    children = [spawned["pid"], forked["pid"]]
    assert all(psutil.pid_exists(pid) for pid in children)
    return children, forked["worker"]


def test_a_forked_child_is_not_titled_as_the_worker(start_master):
    master = start_master(handlers=HANDLERS, pool={"num_workers": 1})
    (_, forked), worker = _start_children(master.endpoint)
    wait_until(lambda: " ".join(psutil.Process(forked).cmdline()).strip() ==
               "supervisor: worker 0 child")
    assert os.getpgid(forked) == os.getpgid(worker) == worker


@pytest.mark.parametrize("start_method", ["forkserver", "spawn", "fork"])
def test_a_killed_worker_takes_its_children_along(start_master, start_method):
    """With fork and spawn, the forked child holds multiprocessing's sentinel pipe open: the
    worker's exit is noticed all the same."""
    master = start_master(handlers=HANDLERS, pool={"num_workers": 1,
                                                   "start_method": start_method})
    children, worker = _start_children(master.endpoint)
    os.kill(worker, signal.SIGKILL)
    wait_until(lambda: gone(children), timeout=2.0)


def test_a_recycled_worker_takes_its_children_along(start_master):
    master = start_master(handlers=HANDLERS, pool={"num_workers": 1, "max_jobs": 1})
    children, worker = _start_children(master.endpoint)  # one past its cap: it is recycled
    wait_until(lambda: gone([worker, *children]), timeout=2.0)


def test_a_killed_master_takes_every_child_along(start_master):
    master = start_master(handlers=HANDLERS, pool={"num_workers": 2})
    children, _ = _start_children(master.endpoint)
    os.kill(master.pid, signal.SIGKILL)
    wait_until(lambda: gone(children), timeout=2.0)


@pytest.mark.parametrize("start_method", ["forkserver", "spawn", "fork"])
def test_a_graceful_stop_takes_every_child_along_and_does_not_wait_for_them(tmp_path,
                                                                             start_method):
    config = write_config(tmp_path, handlers=HANDLERS, pool={
        "num_workers": 2, "destroy_timeout": "10s", "start_method": start_method})
    assert cli("start", "-c", str(config)).returncode == 0
    try:
        endpoint = f"ipc://{tmp_path}/run/exec.sock"
        children, _ = _start_children(endpoint)
        last_request = time.monotonic()
        stopped = cli("stop", "-c", str(config))
        took = time.monotonic() - last_request
        assert stopped.returncode == 0, stopped.stderr
        assert gone(children)
        assert took < 2.0 + _cli_start_time(), took
    finally:
        cli("stop", "-c", str(config), "--timeout", "5")


def _cli_start_time() -> float:
    """What starting the `supervisor` command costs on this machine right now (a baseline)."""
    started = time.monotonic()
    cli("--help")
    return time.monotonic() - started
