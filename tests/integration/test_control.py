"""The control socket and the commands on top of it, against a real master."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import zmq

from supervisor import Client
from supervisor.ops.control import HARD_LIMIT, MAX_REQUEST, ControlClient, ControlError
from tests.ops_support import cli
from tests.support import ROOT, wait_until


def _run_dir(master) -> Path:
    return Path(master.endpoint[len("ipc://"):]).parent


def _control(master) -> ControlClient:
    return ControlClient(f"ipc://{_run_dir(master)}/control.sock")


def _raw(master, *frames: bytes, timeout: float = 5.0) -> dict:
    """Send raw frames on a DEALER and decode the one-frame JSON reply."""
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.linger = 0
    try:
        sock.connect(f"ipc://{_run_dir(master)}/control.sock")
        sock.send_multipart(list(frames))
        assert sock.poll(int(timeout * 1000)), "no reply"
        return json.loads(sock.recv_multipart()[-1])
    finally:
        sock.close()
        context.term()


def _sleep_in_background(master, seconds: float) -> threading.Thread:
    def call() -> None:
        with Client(master.endpoint) as client:
            client.exec("sleep", str(seconds).encode(), timeout=30)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    master.wait_for(rf"stdout: sleeping {seconds:g}s")
    return thread


def test_workers_json_matches_psutil(start_master):
    master = start_master(pool={"num_workers": 3})
    with Client(master.endpoint) as client:
        for _ in range(5):
            client.exec("echo", b"x")
    busy = _sleep_in_background(master, 5)  # outlasts the start of the CLI on a loaded machine
    result = cli("workers", "--json", "-c", str(master.config_path))
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["workers"]
    assert {row["id"]: row["pid"] for row in rows} == master.worker_pids()
    assert sum(row["jobs"] for row in rows) == 5
    now = time.time()
    for row in rows:
        process = psutil.Process(row["pid"])
        assert row["state"] in ("ready", "working")
        rss = process.memory_info().rss
        assert abs(row["rss"] - rss) <= max(0.1 * rss, 4 << 20), (row, rss)
        assert abs(row["age"] - (now - process.create_time())) < 1.5, row
        assert 0 <= row["cpu"] <= 100 * psutil.cpu_count()
    working = [row for row in rows if row["state"] == "working"]
    assert len(working) == 1 and working[0]["request"]["handler"] == "sleep"
    assert 0 < working[0]["request"]["running"] < 5
    busy.join(15)


def test_workers_table_fits_100_columns(start_master):
    master = start_master(pool={"num_workers": 2})
    busy = _sleep_in_background(master, 5)  # outlasts the start of the CLI on a loaded machine
    result = cli("workers", "-c", str(master.config_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "PID", "STATE", "JOBS", "RSS", "MB", "CPU", "%", "AGE",
                                "RUNNING"]
    assert len(lines) == 4 and max(len(line) for line in lines) <= 100
    assert any("working" in line and "sleep" in line for line in lines[1:3])
    busy.join(15)


def test_workers_interactive_redraws_until_ctrl_c(start_master):
    master = start_master(pool={"num_workers": 1})
    # Ctrl-C as a terminal gives it: a run started in the background (`&` without job
    # control) ignores SIGINT, and a Python started so never raises KeyboardInterrupt.
    proc = subprocess.Popen([sys.executable, "-m", "supervisor", "workers", "-i", "-c",
                             str(master.config_path)], cwd=ROOT, stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        redraws = 0
        for line in proc.stdout:
            redraws += line.startswith("\x1b[H\x1b[2J")
            if redraws == 2:
                break
        assert redraws == 2
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait(5)


def test_control_socket_is_private_and_survives_bad_requests(start_master):
    master = start_master()
    run_dir = _run_dir(master)
    assert (run_dir / "control.sock").stat().st_mode & 0o777 == 0o600
    assert run_dir.stat().st_mode & 0o777 == 0o700
    cases = {
        b"{not json": "BadRequest",
        b"\xff\xfe": "BadRequest",
        b"[1, 2]": "BadRequest",
        b'{"command": "start_master-missiles"}': "UnknownCommand",
        b'{"command": "scale", "args": []}': "BadRequest",
        b'{"command": "scale", "args": {"delta": "many"}}': "BadRequest",
        b'{"command": "scale", "args": {"workers": 100000}}': "BadRequest",
        b'{"command": "status", "pad": "' + b"x" * MAX_REQUEST + b'"}': "TooLarge",
    }
    for frame, code in cases.items():
        reply = _raw(master, frame)
        assert reply["ok"] is False and reply["error"]["code"] == code, (frame[:40], reply)
    with zmq.Context() as context, context.socket(zmq.DEALER) as huge:
        huge.linger = 1000
        huge.connect(f"ipc://{run_dir}/control.sock")
        huge.send(b"x" * (HARD_LIMIT + 1))
    req_style = _raw(master, b"", b'{"command": "ping", "id": 7}')
    assert req_style["ok"] and req_style["id"] == 7 and req_style["result"]["pid"] == master.pid
    with Client(master.endpoint) as client:
        assert client.exec("echo", b"still serving") == b"still serving"
    assert master.proc.poll() is None


def test_scale_reset_and_stop_over_control(start_master):
    master = start_master(pool={"num_workers": 2})
    with _control(master) as control:
        assert control.call("scale", delta=1) == {"size": 3}
        wait_until(lambda: sorted(master.worker_pids()) == [0, 1, 2])
        scaled = cli("scale", "1", "-c", str(master.config_path))
        assert scaled.returncode == 0 and "pool size is now 1" in scaled.stdout
        wait_until(lambda: sorted(master.worker_pids()) == [0])
        assert cli("scale", "two", "-c", str(master.config_path)).returncode == 2
        with pytest.raises(ControlError, match="BadRequest"):
            control.call("scale", delta=1, workers=3)
        before = master.worker_pids()[0]
        assert cli("reset", "-c", str(master.config_path)).stdout.strip() == \
            "supervisor: reset: replacing 1 worker"
        wait_until(lambda: master.worker_pids().get(0) not in (None, before))
        reply = control.call("stop")
        assert reply["stopping"] and reply["pid"] == master.pid
    master.wait_for(r"graceful stop requested on the control socket")
    assert master.wait_exit(10) == 0


def test_status_exit_codes_follow_health(start_master, tmp_path):
    marker = tmp_path / "broken"
    master = start_master(env={"FLAKY_MARKER": str(marker)}, pool={"num_workers": 1},
                    handlers={"ok": "tests.flaky_import:ok"})
    healthy = cli("status", "-c", str(master.config_path))
    assert healthy.returncode == 0, healthy.stdout
    assert f"pid {master.pid}" in healthy.stdout and "running" in healthy.stdout
    marker.touch()
    os.kill(master.worker_pids()[0], signal.SIGKILL)
    master.wait_for(r"pool degraded")
    degraded = cli("status", "--json", "-c", str(master.config_path))
    assert degraded.returncode == 1
    shown = json.loads(degraded.stdout)
    assert shown["state"] == "degraded" and shown["pool"]["degraded"] is True
    assert shown["restarts"].get("crashed") == 1
    marker.unlink()
    master.wait_for(r"pool healthy again", timeout=15)
    assert cli("status", "-c", str(master.config_path)).returncode == 0
