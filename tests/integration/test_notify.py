"""The systemd side of the master: notify protocol, watchdog, and the shipped unit file."""

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from supervisor.ops.notify import Notifier, Watchdog
from tests.ops_support import Datagrams
from tests.support import ROOT, wait_until


def test_notify_protocol_as_systemd_sees_it(start_master, tmp_path):
    """READY=1 after the workers, watchdog at half the period, reload and stop, SIGSTOP."""
    manager = Datagrams(tmp_path / "notify.sock")
    gate = tmp_path / "gate"
    try:
        master = start_master(env={"NOTIFY_SOCKET": str(manager.path), "WATCHDOG_USEC": "1000000",
                             "GATE_FILE": str(gate)},
                        ready=False, handlers={"passed": "tests.gate:passed"})
        master.wait_count(r"\[worker \d+ \d+\] stdout: waiting at the gate", 2)
        manager.wait("WATCHDOG")
        assert not any("READY" in fields for _, fields in manager.received)
        gate.touch()
        _, ready = manager.wait("READY")
        assert ready["STATUS"].startswith("running: 2/2 workers up")
        assert ready["MAINPID"] == str(master.pid)
        master.wait_for(r"pool ready: 2 workers", timeout=2)

        pings = [manager.wait("WATCHDOG", timeout=2)[0] for _ in range(5)]
        gaps = [b - a for a, b in itertools.pairwise(pings)]
        assert all(0.25 < gap < 0.95 for gap in gaps), gaps
        assert 0.4 < sum(gaps) / len(gaps) < 0.7, gaps

        master.signal(signal.SIGHUP)
        _, reloading = manager.wait("RELOADING")
        assert int(reloading["MONOTONIC_USEC"]) > 0
        manager.wait("READY")
        master.wait_for(r"reset done: 2 new workers ready", timeout=2)

        master.signal(signal.SIGSTOP)
        try:
            wait_until(lambda: psutil.Process(master.pid).status() == psutil.STATUS_STOPPED)
            manager.drain()
            assert manager.quiet("WATCHDOG", 1.5) == []
        finally:
            master.signal(signal.SIGCONT)
        manager.wait("WATCHDOG", timeout=2)

        master.signal(signal.SIGTERM)
        manager.wait("STOPPING")
        assert master.wait_exit(10) == 0
    finally:
        manager.close()


def test_no_notify_socket_means_no_op():
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    assert notifier.send(READY=1) is False
    assert Watchdog.from_env(0.0, {}).next_deadline() is None


def test_abstract_namespace_socket_and_env_cleanup():
    name = f"sv-test-{os.getpid()}"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(b"\0" + name.encode())
    receiver.settimeout(5)
    environ = {"NOTIFY_SOCKET": "@" + name}
    try:
        notifier = Notifier.from_env(environ)
        assert notifier.send(STATUS="hello", READY=1)
        assert receiver.recv(100) == b"STATUS=hello\nREADY=1"
        assert "NOTIFY_SOCKET" not in environ
        notifier.close()
    finally:
        receiver.close()


def test_watchdog_pings_at_half_the_period_and_only_for_its_pid():
    environ = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    watchdog = Watchdog.from_env(100.0, environ)
    assert environ == {}
    assert watchdog.due(100.0) and not watchdog.due(100.9)
    assert watchdog.next_deadline() == 101.0 and watchdog.due(101.0)
    other = Watchdog.from_env(0.0, {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"})
    assert other.next_deadline() is None


def test_unit_file_passes_systemd_analyze(tmp_path):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    text = (ROOT / "conf" / "supervisor.service").read_text()
    for key in ("Type=notify", "NotifyAccess=main", "ExecReload=/bin/kill -HUP $MAINPID",
                "KillMode=mixed", "Restart=on-failure", "WatchdogSec="):
        assert key in text
    stop_budget = int(text.split("TimeoutStopSec=")[1].split()[0])
    assert stop_budget > 60, "TimeoutStopSec must exceed the default destroy_timeout (60s)"
    venv_bin = Path(sys.executable).parent
    if not (venv_bin / "supervisor").exists():
        pytest.skip(f"no supervisor console script beside {sys.executable} (install the project)")
    unit = tmp_path / "zmq-supervisor.service"
    unit.write_text(text.replace("/opt/zmq-supervisor/.venv/bin", str(venv_bin))
                        .replace("/opt/zmq-supervisor", str(ROOT)))
    result = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
