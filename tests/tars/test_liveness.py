"""The keepalive reporter under a real master: it reports only while the master answers and a
worker lives, survives a node that goes away, and runs as a process of its own."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from supervisor import Client
from supervisor.ops.control import ControlClient
from supervisor.tars.standin import Call, StandInNode
from tests.ops_support import cli
from tests.support import MasterProcess, alive, wait_until
from tests.tars.confs import HTTP, INTERVAL, OBJ, free_port, write_conf

ROUND = 4  # keepAlive calls per round: obj, http, AdminAdapter; the first round adds reportVersion
# A round whose probe the master answered just before it stopped may still be sent this late.
GRACE = 0.3


@pytest.fixture
def node() -> Iterator[StandInNode]:
    with StandInNode() as standin:
        yield standin


def _start(start_master, tmp_path: Path, node: StandInNode, **overrides) -> MasterProcess:
    port = free_port()
    conf = write_conf(tmp_path, node_port=node.port, obj_port=port)
    master = start_master(tars={"config": str(conf)}, keepalive={"interval": f"{INTERVAL}s"},
                          **overrides)
    master.endpoint = f"tcp://127.0.0.1:{port}"
    assert node.wait_for(ROUND, timeout=5), node.calls
    return master


def _after(node: StandInNode, moment: float) -> list[Call]:
    return [call for call in node.keepalives() if call.time > moment]


def _quiet(node: StandInNode, since: float, seconds: float) -> list[Call]:
    """Watch the node for `seconds` (a quiet period, not a wait for an event)."""
    time.sleep(seconds)
    return _after(node, since)


def _resumed(node: StandInNode, since: float, timeout: float) -> Call:
    deadline = time.monotonic() + timeout
    while not _after(node, since):
        assert node.wait_for(len(node.calls) + 1, max(0.0, deadline - time.monotonic())), \
            f"no keepalive within {timeout}s"
    return _after(node, since)[0]


def test_reporter_is_its_own_process_and_reports_the_master_pid(start_master, tmp_path,
                                                                 node) -> None:
    master = _start(start_master, tmp_path, node)
    first = node.calls[:ROUND]
    assert [c.func for c in first] == ["reportVersion"] + ["keepAlive"] * 3
    assert [c.adapter for c in first[1:]] == [OBJ, HTTP, "AdminAdapter"]
    assert {c.pid for c in first[1:]} == {master.pid}
    reporter = wait_until(lambda: [p for p in master.descendants()
                                   if " ".join(p.cmdline()).strip() == "supervisor: keepalive"])
    assert len(reporter) == 1
    master.wait_for(r"\[keepalive \d+\] supervisor\.reporter: keepalive for App\.Server")
    reporter[0].kill()
    master.wait_for(r"keepalive reporter killed by SIGKILL; restarting")
    killed_at = time.time()
    assert _resumed(node, killed_at, timeout=3 * INTERVAL).pid == master.pid
    [restarted] = [p for p in master.descendants()
                   if " ".join(p.cmdline()).strip() == "supervisor: keepalive"]
    master.signal(signal.SIGKILL)
    wait_until(lambda: not alive(restarted.pid), timeout=5)


def test_probe_answers_and_ignores_malformed_results(start_master, tmp_path, node) -> None:
    master = _start(start_master, tmp_path, node)
    run_dir = yaml.safe_load(master.config_path.read_text())["server"]["run_dir"]
    with ControlClient(f"ipc://{run_dir}/control.sock") as control:
        answer = control.call("keepalive", result="bogus", status={"reports": "many", "state": 3})
        assert answer == {"alive": 2, "pid": master.pid}
        shown = control.call("status")["keepalive"]
    assert "bogus" not in shown["results"]
    assert isinstance(shown["reports"], int) and isinstance(shown["state"], str)


def test_a_stopped_master_is_not_reported(start_master, tmp_path, node) -> None:
    master = _start(start_master, tmp_path, node)
    master.signal(signal.SIGSTOP)
    stopped = time.time()
    try:
        late = _quiet(node, stopped + GRACE, 3 * INTERVAL)
    finally:
        master.signal(signal.SIGCONT)
    assert late == []
    continued = time.time()
    assert _resumed(node, continued, timeout=2 * INTERVAL + 1).pid == master.pid
    master.wait_for("keepalive paused: the master is not answering")
    master.wait_for("keepalive resumed")


def test_no_report_while_no_worker_lives(start_master, tmp_path, node) -> None:
    marker = tmp_path / "broken"
    master = _start(start_master, tmp_path, node, handlers={"ok": "tests.flaky_import:ok"},
                    env={"FLAKY_MARKER": str(marker)})
    marker.touch()
    for pid in master.worker_pids().values():
        os.kill(pid, signal.SIGKILL)
    master.wait_for("pool degraded")
    degraded = time.time()
    assert _quiet(node, degraded, 3 * INTERVAL) == []
    marker.unlink()
    master.wait_for("pool healthy again", timeout=15)
    assert _resumed(node, time.time(), timeout=2 * INTERVAL + 1).pid == master.pid


def test_node_down_and_back(start_master, tmp_path, node) -> None:
    master = _start(start_master, tmp_path, node)
    node.stop()
    down = time.monotonic()
    answered = 0
    with Client(master.endpoint) as client:
        while time.monotonic() - down < 3 * INTERVAL:
            assert client.exec("echo", b"still serving", timeout=5) == b"still serving"
            answered += 1
    master.wait_for("tars node unreachable, retrying every 1s: .*connection refused")
    node.start()
    back = time.time()
    resumed = _resumed(node, back, timeout=INTERVAL + GRACE)
    assert resumed.time - back <= INTERVAL + GRACE
    master.wait_for("tars node recovered")
    assert master.count("tars node unreachable") == 1
    assert master.count("tars node recovered") == 1
    assert answered > 10


def test_status_shows_the_reports(start_master, tmp_path, node) -> None:
    master = _start(start_master, tmp_path, node)
    assert node.wait_for(ROUND + 3, timeout=3 * INTERVAL)
    node.stop()
    master.wait_for("tars node unreachable")
    status = wait_until(lambda: _status_once_unreachable(master.config_path), timeout=5)
    assert "keepalive  unreachable: 2 reports, last " in status, status
    assert re.search(r"rounds: 2 ok, \d+ unreachable", status), status
    assert f"node tars.tarsnode.ServerObj@tcp -h 127.0.0.1 -p {node.port}" in status
    assert "last error: tars node" in status and "connection refused" in status
    shown = json.loads(cli("status", "--json", "-c", str(master.config_path)).stdout)
    keepalive = shown["keepalive"]
    assert keepalive["reports"] == 2 and keepalive["failures"] >= 1
    assert keepalive["results"]["ok"] == 2 and time.time() - keepalive["last_success"] < 3
    assert keepalive["adapters"] == [OBJ, HTTP, "AdminAdapter"]


def _status_once_unreachable(config: Path) -> str | None:
    shown = cli("status", "-c", str(config)).stdout
    return shown if "keepalive  unreachable" in shown else None
