"""What a new user meets first: a busy port, a closed pipe, a config read from elsewhere, the
Tars entry's spellings, and the small things the command line says."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import yaml

from supervisor import Client
from tests.ops_support import cli, write_config
from tests.support import ROOT, base_config
from tests.tars.confs import write_conf


@pytest.fixture
def busy_port():
    """A loopback tcp port something else already listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        yield taken.getsockname()[1]


def _one_line_naming_the_listen_address(result: subprocess.CompletedProcess, port: int) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "ZMQError" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [f"supervisor: server.listen tcp://127.0.0.1:{port}: cannot bind: "
                     "Address already in use"], result.stderr


def test_busy_listen_port_is_one_line_from_run_and_start(tmp_path, busy_port):
    config = write_config(tmp_path, server={"run_dir": str(tmp_path / "run"),
                                            "listen": f"tcp://127.0.0.1:{busy_port}"})
    _one_line_naming_the_listen_address(cli("run", "-c", str(config)), busy_port)
    started = cli("start", "-c", str(config), "--timeout", "30")
    _one_line_naming_the_listen_address(started, busy_port)
    assert cli("status", "-c", str(config)).returncode == 3


def test_busy_listen_port_is_one_line_from_the_tars_entry(tmp_path, busy_port):
    conf = write_conf(tmp_path, node_port=19386, obj_port=busy_port, datapath=tmp_path / "data",
                      logpath=tmp_path / "log")
    yaml_path = tmp_path / "supervisor.yaml"
    yaml_path.write_text(yaml.safe_dump(base_config(tmp_path / "unused",
                                                    keepalive={"enabled": False})))
    env = {"SUPERVISOR_CONFIG": str(yaml_path), "SUPERVISOR_START_TIMEOUT": "30"}
    result = cli("--config", str(conf), "start", env=env)  # with a space, as some nodes write it
    _one_line_naming_the_listen_address(result, busy_port)


def test_broken_pipe_leaves_no_traceback(tmp_path):
    """`supervisor status | head -2`: the reader is gone before we write."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "supervisor", "status", "-c", str(write_config(tmp_path))],
            cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=30)
    finally:
        os.close(write_end)
    assert result.stderr == "", result.stderr
    assert result.returncode == 141


def test_paths_follow_the_config_file_not_the_working_directory(tmp_path, start_master):
    """`status -c /abs/app.yaml` and `check` from another directory find what the file names."""
    app = tmp_path / "app"
    (app / "myhandlers").mkdir(parents=True)
    (app / "myhandlers" / "__init__.py").write_text("def hello(payload):\n    return 'hi'\n")
    config = app / "app.yaml"
    config.write_text(yaml.safe_dump({
        "server": {"run_dir": "./run", "listen": "ipc://./run/exec.sock"},
        "pool": {"num_workers": 1}, "handlers": {"hello": "myhandlers:hello"}}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def supervisor(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "supervisor", *args, "-c", str(config)],
                              cwd=elsewhere, capture_output=True, text=True, timeout=60)

    checked = supervisor("check")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip() == f"{config}: OK (1 handler, 1 worker, 0 schedules)"
    not_running = supervisor("status")
    assert not_running.returncode == 3
    assert str(app / "run" / "supervisor.pid") in not_running.stdout
    started = supervisor("start")
    try:
        assert started.returncode == 0, started.stderr
        assert (app / "run" / "supervisor.pid").exists()
        status = supervisor("status", "--json")
        assert status.returncode == 0, status.stdout
        assert json.loads(status.stdout)["pool"]["size"] == 1
        with Client(f"ipc://{app}/run/exec.sock") as client:
            assert client.exec("hello", b"") == b"hi"
    finally:
        assert supervisor("stop").returncode == 0


def test_chdir_names_where_handlers_import_from(tmp_path):
    code = tmp_path / "code"
    (code / "pkg").mkdir(parents=True)
    (code / "pkg" / "__init__.py").write_text("def run(payload):\n    return 1\n")
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    config = conf_dir / "app.yaml"
    config.write_text(yaml.safe_dump({"server": {"chdir": "../code", "run_dir": "run"},
                                      "handlers": {"run": "pkg:run"}}))
    checked = subprocess.run([sys.executable, "-m", "supervisor", "check", "-c", str(config)],
                             cwd="/", capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    from supervisor.config import load

    loaded = load(config)
    assert loaded.base_dir == code and loaded.run_dir == code / "run"
    assert loaded.listen == f"ipc://{code}/run/exec.sock"
    config.write_text(yaml.safe_dump({"server": {"chdir": "../nowhere"}}))
    missing = cli("check", "-c", str(config))
    assert missing.returncode == 2
    assert missing.stderr.strip() == (f"supervisor: {config}: server.chdir: expected a "
                                      f"directory, {tmp_path}/nowhere is not one")


def test_version_context_and_an_empty_config(tmp_path, start_master):
    version = cli("--version")
    assert version.returncode == 0 and version.stdout.strip() == "zmq-supervisor 0.1.0"
    empty = tmp_path / "empty.yaml"
    empty.write_text(f"server: {{run_dir: {tmp_path}/run}}\npool: {{num_workers: 1}}\n")
    checked = cli("check", "-c", str(empty))
    assert checked.returncode == 0
    assert "warning" in checked.stderr and "no handler is configured" in checked.stderr
    assert "(0 handlers, 1 worker, 0 schedules)" in checked.stdout

    master = start_master()
    context = cli("exec", "context", "--context", '{"lastTick": 7}', "--endpoint",
                  master.endpoint)
    assert context.returncode == 0, context.stderr
    assert json.loads(context.stdout) == {"lastTick": 7}
    bad = cli("exec", "context", "--context", "[1]", "--endpoint", master.endpoint)
    assert bad.returncode == 2 and "expected a JSON object" in bad.stderr


def test_tars_entry_exec_finds_the_endpoint_and_a_missing_conf_says_cannot_read(tmp_path):
    missing = cli("--config=/nonexistent/App.Server.config.conf", "status",
                  env={"SUPERVISOR_CONFIG": str(write_config(tmp_path))})
    assert missing.returncode == 2
    assert missing.stderr.strip() == ("supervisor: /nonexistent/App.Server.config.conf: cannot "
                                      "read the Tars conf: No such file or directory")


def test_exec_asks_the_running_master_where_it_listens(tmp_path, start_master):
    """Under Tars the conf's endpoint overrides the YAML's `listen`; `exec` asks the master of
    the run_dir (as `status` finds it) instead of trusting the YAML."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    master = start_master(server={"listen": f"tcp://127.0.0.1:{port}"})
    yaml_only = tmp_path / "yaml-only.yaml"
    settings = yaml.safe_load(master.config_path.read_text())
    settings["server"]["listen"] = f"ipc://{tmp_path}/not-there.sock"
    yaml_only.write_text(yaml.safe_dump(settings))
    result = cli("exec", "echo", "hi", "-c", str(yaml_only))
    assert (result.returncode, result.stdout) == (0, "hi\n"), result.stderr
