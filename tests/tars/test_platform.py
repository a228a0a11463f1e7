"""Under the Tars platform's conventions: the start/stop scripts (and the client behaviour their
draining stop relies on), the conf's endpoint, threads and allow list, and the stand-in node as
`supervisor tars-node`."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import yaml
import zmq

from supervisor import Client, wire
from supervisor.errors import NotRunning, SupervisorError
from supervisor.ops.control import ControlClient
from supervisor.tars.conf import parse_endpoint
from supervisor.tars.node import NodeClient
from supervisor.tars.standin import StandInNode
from tests.support import ROOT, alive, base_config, gone, wait_until
from tests.tars.confs import APP, HTTP, INTERVAL, OBJ, SERVER, free_port, write_conf


class Deployment:
    """A server directory as the node lays it out: conf, data and log directories, a YAML."""

    def __init__(self, node_port: int, threads: int = 2, **yaml_overrides) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sv-tars-"))
        self.port = free_port()
        self.conf = write_conf(self.dir, node_port=node_port, obj_port=self.port,
                               threads=threads, datapath=self.dir / "data",
                               logpath=self.dir / "log")
        self.yaml = self.dir / "supervisor.yaml"
        settings = base_config(self.dir / "unused", **{
            "keepalive": {"interval": f"{INTERVAL}s"}, **yaml_overrides})
        self.yaml.write_text(yaml.safe_dump(settings))
        self.env = {**os.environ, "SUPERVISOR_CONFIG": str(self.yaml)}
        self.log = self.dir / "log" / APP / SERVER / f"{APP}.{SERVER}.log"

    def script(self, name: str, timeout: float = 60.0, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(ROOT / "scripts" / name), str(self.conf)], cwd=self.dir,
                              env={**self.env, **env}, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)

    def master_pid(self) -> int:
        return int((self.dir / "data" / "supervisor.pid").read_text())

    def status(self) -> dict:
        with ControlClient(f"ipc://{self.dir}/data/control.sock") as control:
            return control.call("status")

    def cleanup(self) -> None:
        pid_file = self.dir / "data" / "supervisor.pid"
        if pid_file.exists() and self.script("tars_stop.sh", timeout=30).returncode != 0:
            os.killpg(self.master_pid(), signal.SIGKILL)


@pytest.fixture
def deploy() -> Iterator:
    made: list[Deployment] = []

    def make(node_port: int, **options) -> Deployment:
        made.append(Deployment(node_port, **options))
        return made[-1]

    yield make
    for deployment in made:
        deployment.cleanup()


def test_start_script_reports_then_every_interval_and_both_scripts_are_idempotent(deploy):
    with StandInNode() as node:
        server = deploy(node.port)
        started = server.script("tars_start.sh")
        assert started.returncode == 0, started.stderr
        assert "2/2 workers up" in started.stdout
        pid = server.master_pid()
        assert node.wait_for(4, timeout=2.0), node.calls
        first = node.calls[:4]
        assert [c.func for c in first] == ["reportVersion", "keepAlive", "keepAlive", "keepAlive"]
        assert {(c.application, c.server_name) for c in first} == {(APP, SERVER)}
        assert [c.adapter for c in first[1:]] == [OBJ, HTTP, "AdminAdapter"]
        assert {c.pid for c in first[1:]} == {pid}
        assert node.wait_for(4 + 2 * 3, timeout=3 * INTERVAL)
        assert [c.func for c in node.calls].count("reportVersion") == 1
        for adapter in (OBJ, HTTP, "AdminAdapter"):
            gaps = [c.since_last for c in node.keepalives() if c.adapter == adapter][1:]
            assert gaps and all(abs(gap - INTERVAL) < 0.25 for gap in gaps), gaps

        again = server.script("tars_start.sh")
        assert again.returncode == 0 and f"already running with pid {pid}" in again.stdout
        assert server.log.exists() and "pool ready: 2 workers" in server.log.read_text()

        tree = [pid, *(p.pid for p in psutil.Process(pid).children(recursive=True))]
        stopped = server.script("tars_stop.sh")
        assert stopped.returncode == 0, stopped.stderr
        assert gone(tree)
        again = server.script("tars_stop.sh")
        assert again.returncode == 0 and "not running" in again.stderr


def test_stop_script_drains_requests_in_flight(deploy):
    server = deploy(free_port(), threads=5, keepalive={"enabled": False})
    assert server.script("tars_start.sh").returncode == 0
    pid = server.master_pid()
    results: queue.Queue = queue.Queue()

    def call() -> None:
        with Client(f"tcp://127.0.0.1:{server.port}") as client:
            try:
                results.put(client.exec("sleep", b"1", timeout=30))
            except SupervisorError as exc:
                results.put(exc)

    callers = [threading.Thread(target=call) for _ in range(10)]
    for caller in callers:
        caller.start()
    wait_until(lambda: (lambda s: s["pool"]["working"] == 5 and s["queue"] == 5)(server.status()))
    tree = [pid, *(p.pid for p in psutil.Process(pid).children(recursive=True))]
    stopped = server.script("tars_stop.sh")
    assert stopped.returncode == 0, stopped.stderr
    assert not alive(pid) and gone(tree)
    for caller in callers:
        caller.join(timeout=10)
    answers = [results.get_nowait() for _ in range(10)]
    assert all(isinstance(a, bytes) and json.loads(a)["slept"] == 1 for a in answers), \
        [a for a in answers if not isinstance(a, bytes)]


def test_start_script_gives_the_reason_when_the_pool_is_late(deploy):
    server = deploy(free_port(), handlers={"gate": "tests.gate:passed"})
    gate = server.dir / "gate"
    late = server.script("tars_start.sh", GATE_FILE=str(gate), SUPERVISOR_START_TIMEOUT="1")
    gate.touch()
    assert late.returncode == 1
    assert "not ready within 1s" in late.stderr
    assert "waiting at the gate" in late.stderr


def test_conf_endpoint_threads_and_allow(start_master, tmp_path):
    port = free_port()
    conf = write_conf(tmp_path, node_port=free_port(), obj_port=port, threads=3,
                      allow="127.0.0.1")
    master = start_master(tars={"config": str(conf)}, keepalive={"enabled": False})
    assert sorted(wait_until(lambda: len(master.worker_pids()) == 3 and master.worker_pids())) \
        == [0, 1, 2]
    with Client(f"tcp://127.0.0.1:{port}") as client:
        assert client.exec("echo", b"allowed", timeout=5) == b"allowed"
    source = f"tcp://127.0.0.2:0;127.0.0.1:{port}"  # connect from 127.0.0.2
    with Client(source, connect_timeout=1.0) as client, pytest.raises(NotRunning):
        client.exec("echo", b"refused", timeout=2)
    master.wait_for("refused a connection from 127.0.0.2: not in the allow list")
    assert master.count("refused a connection from 127.0.0.2") == 1


def test_tars_node_command_prints_each_keepalive():
    process = subprocess.Popen(
        [sys.executable, "-m", "supervisor", "tars-node", "--listen", "tcp -h 127.0.0.1 -p 0"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        banner = process.stdout.readline()
        assert banner.startswith("tars node stand-in listening on tcp -h 127.0.0.1 -p ")
        with NodeClient(parse_endpoint(banner.split(" on ", 1)[1])) as client:
            client.keep_alive(APP, SERVER, 42, OBJ)
        line = process.stdout.readline()
        assert f"keepAlive app={APP} server={SERVER} adapter={OBJ} pid=42 since_last=-" in line
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=5)


def test_client_keeps_an_answer_that_came_just_before_the_master_closed():
    """What the draining stop relies on: the last answers go out, then the master closes."""
    context = zmq.Context.instance()
    server = context.socket(zmq.ROUTER)
    port = server.bind_to_random_port("tcp://127.0.0.1")

    def answer_then_close() -> None:
        ident, frame = server.recv_multipart()
        server.send_multipart([ident, wire.answer(wire.S_OK, wire.request_id_of(frame),
                                                  b"last answer")])
        server.close(linger=1000)  # the master's way out after its last answers

    threading.Thread(target=answer_then_close, daemon=True).start()
    with Client(f"tcp://127.0.0.1:{port}") as client:
        assert client.exec("echo", b"x", timeout=5) == b"last answer"
