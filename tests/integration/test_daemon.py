"""Daemon mode through the real command line: start, status, restart, stop, stale pid files."""

import json
import os
import signal
from pathlib import Path

import psutil
import pytest

from supervisor import Client
from tests.ops_support import cli, write_config
from tests.support import alive, gone, wait_until


@pytest.fixture
def config(tmp_path):
    """A daemon config; whatever master is left running at the end is stopped (or killed)."""
    path = write_config(tmp_path, pool={"num_workers": 2, "destroy_timeout": "5s"})
    yield path
    pid_file = tmp_path / "run" / "supervisor.pid"
    cli("stop", "-c", str(path), "--timeout", "10")
    if pid_file.exists() and pid_file.read_text().strip().isdigit():
        pid = int(pid_file.read_text())
        if alive(pid) and "supervisor" in " ".join(psutil.Process(pid).cmdline()):
            os.killpg(pid, signal.SIGKILL)


def _master_pid(config: Path) -> int:
    return int((config.parent / "run" / "supervisor.pid").read_text())


def _tree(pid: int) -> list[int]:
    master = psutil.Process(pid)
    return [pid, *(child.pid for child in master.children(recursive=True))]


def test_start_status_restart_stop(config):
    started = cli("start", "-c", str(config))
    assert started.returncode == 0, started.stderr
    assert "2/2 workers up" in started.stdout
    pid = _master_pid(config)
    master = psutil.Process(pid)
    assert " ".join(master.cmdline()).strip() == "supervisor: master"
    assert os.getsid(pid) != os.getsid(0) and master.ppid() != os.getpid()

    status = cli("status", "--json", "-c", str(config))
    assert status.returncode == 0, status.stdout
    shown = json.loads(status.stdout)
    assert shown["running"] and shown["pid"] == pid and shown["state"] == "running"
    assert shown["pool"]["size"] == 2 and shown["pool"]["ready"] == 2
    assert "pool ready: 2 workers" in (config.parent / "run" / "supervisor.log").read_text()

    second = cli("start", "-c", str(config))
    assert second.returncode == 1
    assert f"already running with pid {pid}" in second.stderr

    restarted = cli("restart", "-c", str(config))
    assert restarted.returncode == 0, restarted.stderr
    assert not alive(pid)
    pid = _master_pid(config)
    with Client(f"ipc://{config.parent}/run/exec.sock") as client:
        assert client.exec("echo", b"after restart", timeout=10) == b"after restart"

    tree = _tree(pid)
    assert len(tree) >= 3
    stopped = cli("stop", "-c", str(config))
    assert stopped.returncode == 0, stopped.stderr
    assert gone(tree), [p for p in tree if alive(p)]
    assert cli("status", "-c", str(config)).returncode == 3


def test_pid_file_of_a_killed_master_does_not_block_start(config):
    assert cli("start", "-c", str(config)).returncode == 0
    pid = _master_pid(config)
    tree = _tree(pid)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: gone(tree), timeout=10)
    assert _master_pid(config) == pid, "the killed master's pid file is still there"
    not_running = cli("status", "--json", "-c", str(config))
    assert not_running.returncode == 3 and json.loads(not_running.stdout) == {
        "running": False, "pidfile": str(config.parent / "run" / "supervisor.pid")}

    again = cli("start", "-c", str(config))
    assert again.returncode == 0, again.stderr
    assert _master_pid(config) != pid
    assert cli("status", "-c", str(config)).returncode == 0


def test_start_reports_why_the_pool_never_became_ready(tmp_path):
    config = write_config(tmp_path, handlers={"bad": "tests.handlers:NOT_CALLABLE"})
    failed = cli("start", "-c", str(config))
    assert failed.returncode == 2
    assert "before its pool was ready" in failed.stderr
    assert "NOT_CALLABLE" in failed.stderr
    assert cli("status", "-c", str(config)).returncode == 3


def test_stop_when_nothing_runs(tmp_path):
    config = write_config(tmp_path)
    stopped = cli("stop", "-c", str(config))
    assert stopped.returncode == 0 and "not running" in stopped.stderr
