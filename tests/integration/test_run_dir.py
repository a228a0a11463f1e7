"""The run directory is the master's own: each attack on it is refused with one line and exit
code 2, leaving its target untouched; its sockets are 0600; a removed run_dir stops the master."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.ops_support import cli
from tests.support import ROOT, alive, base_config, wait_until

NOBODY = 65534


def _config(tmp_path: Path, run_dir: Path, **overrides) -> Path:
    path = tmp_path / "supervisor.yaml"
    config = base_config(run_dir, **overrides)
    path.write_text(yaml.safe_dump(config))
    return path


def _refused(result: subprocess.CompletedProcess, *words: str) -> None:
    """Exit code 2 and one line on stderr that says what is wrong."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def _snapshot(path: Path) -> tuple:
    info = path.stat()
    contents = sorted(os.listdir(path)) if path.is_dir() else path.read_bytes()
    return stat.S_IMODE(info.st_mode), info.st_uid, contents


@pytest.mark.parametrize("command", ["run", "start"])
def test_a_symlinked_run_dir_is_refused(tmp_path, command):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o755)
    os.chmod(target, 0o755)
    (tmp_path / "run").symlink_to(target)
    before = _snapshot(target)
    _refused(cli(command, "-c", str(_config(tmp_path, tmp_path / "run"))), "symbolic link")
    assert _snapshot(target) == before


def test_a_run_dir_of_another_user_is_refused(tmp_path):
    if os.geteuid() == 0:
        run_dir = tmp_path / "run"
        run_dir.mkdir()
        os.chmod(run_dir, 0o777)
        os.chown(run_dir, NOBODY, NOBODY)
    else:
        run_dir = Path("/usr")  # root's, and this user may not write there anyway
    before = _snapshot(run_dir)
    _refused(cli("run", "-c", str(_config(tmp_path, run_dir))), "owned by uid")
    assert _snapshot(run_dir) == before


def test_a_run_dir_others_may_write_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    os.chmod(run_dir, 0o777)
    _refused(cli("run", "-c", str(_config(tmp_path, run_dir))), "writable by group or others",
             "0777")
    assert _snapshot(run_dir) == (0o777, os.geteuid(), [])


def test_an_own_run_dir_others_may_only_read_is_made_private(start_master, tmp_path):
    """A Tars node creates its data directory 0755."""
    run_dir = tmp_path / "data"
    run_dir.mkdir()
    os.chmod(run_dir, 0o755)
    start_master(config=base_config(run_dir))
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700


@pytest.mark.parametrize("command", ["run", "start"])
def test_a_symlinked_pid_file_is_refused(tmp_path, command):
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    target = tmp_path / "precious"
    target.write_text("precious\n")
    (run_dir / "supervisor.pid").symlink_to(target)
    _refused(cli(command, "-c", str(_config(tmp_path, run_dir))), "symbolic link",
             "supervisor.pid")
    assert target.read_text() == "precious\n"


@pytest.mark.parametrize("command", ["run", "start"])
def test_a_symlinked_log_file_is_refused(tmp_path, command):
    target = tmp_path / "precious"
    target.write_text("precious\n")
    log = tmp_path / "logs" / "supervisor.log"
    log.parent.mkdir()
    log.symlink_to(target)
    config = _config(tmp_path, tmp_path / "run",
                     server={"log": {"level": "info", "file": str(log)}})
    _refused(cli(command, "-c", str(config)), "server.log.file", "symbolic link")
    assert target.read_text() == "precious\n"


def test_stop_does_not_signal_the_process_a_forged_locked_pid_file_names(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        pid_file = run_dir / "supervisor.pid"
        pid_file.write_text(f"{bystander.pid}\n")
        with open(pid_file) as held:
            fcntl.flock(held, fcntl.LOCK_EX)  # the lock a live master would hold
            result = cli("stop", "-c", str(_config(tmp_path, run_dir)))
        _refused(result, f"pid {bystander.pid}", "not signalling")
        assert alive(bystander.pid)
    finally:
        bystander.kill()
        bystander.wait()


def test_every_socket_is_0600_even_under_umask_000(start_master, tmp_path):
    run_dir = tmp_path / "run"
    listen = tmp_path / "public" / "exec.sock"  # an ipc listen endpoint outside run_dir
    config = base_config(run_dir, ticker={"interval": "1s", "handler": "echo"},
                         server={"run_dir": str(run_dir), "listen": f"ipc://{listen}"})
    old = os.umask(0)
    try:
        master = start_master(ready=False, config=config)
    finally:
        os.umask(old)
    master.wait_ready()
    sockets = [*run_dir.glob("*.sock"), listen]
    names = {path.name for path in sockets}
    assert {"exec.sock", "workers.sock", "logs.sock", "control.sock", "ticks.sock"} <= names
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in sockets}
    assert set(modes.values()) == {0o600}, modes
    assert stat.S_IMODE((run_dir / "supervisor.pid").stat().st_mode) == 0o600


def test_a_removed_run_dir_stops_the_master_with_one_line(start_master):
    master = start_master()
    run_dir = Path(master.endpoint[len("ipc://"):]).parent
    shutil.rmtree(run_dir)
    master.wait_for(r"CRITICAL .*was removed; stopping")
    assert master.wait_exit(15) == 1
    assert master.count("CRITICAL") == 1
    start_master(config=yaml.safe_load(master.config_path.read_text()))  # the next one starts


def test_a_removed_pid_file_stops_the_master(start_master):
    master = start_master()
    run_dir = Path(master.endpoint[len("ipc://"):]).parent
    (run_dir / "supervisor.pid").unlink()
    master.wait_for(r"CRITICAL .*supervisor\.pid was removed; stopping")
    assert master.wait_exit(15) == 1


_PROBE = """
import sys, time
from pathlib import Path
from supervisor.master.pidfile import read_pid
path, deadline = Path(sys.argv[1]), time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    read_pid(path)
"""


def test_a_status_probe_in_a_tight_loop_never_makes_a_start_fail(tmp_path):
    """`status` takes the pid file's lock for an instant to see whether a master holds it."""
    from supervisor.master.pidfile import AlreadyRunning, PidFile

    path = tmp_path / "supervisor.pid"
    path.touch(mode=0o600)
    probe = subprocess.Popen([sys.executable, "-c", _PROBE, str(path), "30"], cwd=ROOT)
    failures = 0
    try:
        wait_until(lambda: probe.poll() is None)
        for _ in range(1000):
            pid_file = PidFile(path)
            try:
                pid_file.acquire()
            except AlreadyRunning:
                failures += 1
            else:
                pid_file.release()
                path.touch(mode=0o600)
    finally:
        probe.send_signal(signal.SIGKILL)
        probe.wait()
    assert failures == 0
