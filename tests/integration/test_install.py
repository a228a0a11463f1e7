"""The README's systemd installation, run for real into a scratch prefix: the installed unit's
command starts a master as systemd would, and `status`/`stop` find it with only the config."""

from __future__ import annotations

import getpass
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from tests.ops_support import Datagrams
from tests.support import ROOT


def _unit(path: Path) -> dict[str, list[str]]:
    entries: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            entries.setdefault(key, []).append(value)
    return entries


def test_pip_install_leaves_the_source_tree_clean(tmp_path):
    source = tmp_path / "source"
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    before = sorted(p.name for p in source.iterdir())
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                                "--target", str(tmp_path / "target"), str(source)],
                               capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    assert sorted(p.name for p in source.iterdir()) == before  # no build/, no *.egg-info
    assert (tmp_path / "target" / "supervisor" / "ops" / "status.html").is_file()


def _venv_of_this_checkout(prefix: Path) -> None:
    """PREFIX/.venv as the installer leaves it, borrowing this checkout's interpreter and
    packages (creating a venv and installing from the index takes a minute here)."""
    bin_dir = prefix / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, module in (("python", ""), ("supervisor", "-m supervisor ")):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\nexec {sys.executable} {module}\"$@\"\n")
        script.chmod(0o755)


def test_install_script_and_the_unit_it_writes(tmp_path):
    prefix, run_dir, units = tmp_path / "opt", tmp_path / "run", tmp_path / "units"
    user = getpass.getuser()
    _venv_of_this_checkout(prefix)
    installed = subprocess.run(
        [str(ROOT / "scripts" / "install_systemd.sh"), "--prefix", str(prefix), "--user", user,
         "--run-dir", str(run_dir), "--unit-dir", str(units), "--no-systemctl", "--keep-venv"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    assert (prefix / "workers" / "ticker.py").is_file()
    config = prefix / "conf" / "supervisor.yaml"
    assert f"run_dir: {run_dir}" in config.read_text()

    unit = _unit(units / "zmq-supervisor.service")
    assert unit["User"] == [user] and unit["Type"] == ["notify"]
    assert unit["WorkingDirectory"] == [str(prefix)]
    env = dict(entry.split("=", 1) for entry in unit["Environment"])
    assert env == {"SUPERVISOR_CONFIG": str(config)}
    command = shlex.split(unit["ExecStart"][0])
    assert command == [str(prefix / ".venv" / "bin" / "supervisor"), "run"]

    notify = Datagrams(tmp_path / "notify.sock")
    service = subprocess.Popen(command, cwd=unit["WorkingDirectory"][0],
                               env={"PATH": os.environ["PATH"], **env,
                                    "NOTIFY_SOCKET": str(notify.path)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    supervisor = str(prefix / ".venv" / "bin" / "supervisor")
    try:
        notify.wait("READY", timeout=60)
        status = subprocess.run([supervisor, "status", "-c", str(config)], cwd="/",
                                capture_output=True, text=True, timeout=30)
        assert status.returncode == 0, status.stdout + status.stderr
        assert f"pid {service.pid}" in status.stdout
        stopped = subprocess.run([supervisor, "stop", "-c", str(config)], cwd="/",
                                 capture_output=True, text=True, timeout=60)
        assert stopped.returncode == 0, stopped.stderr
        assert service.wait(10) == 0
    finally:
        if service.poll() is None:
            service.kill()
            service.wait(5)
        notify.close()
