"""The README's two commands and the CI entry point, run as a user runs them."""

import os
import signal
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path

from tests.support import ROOT, MasterProcess, gone, wait_until


def test_scripts_run_serves_and_ctrl_c_leaves_nothing():
    run_dir = Path(tempfile.mkdtemp(prefix="sv-script-")) / "run"
    # No log level given: scripts/run itself shows each tick (SPEC: "logs each tick").
    env = {"SUPERVISOR_RUN_DIR": str(run_dir), "SUPERVISOR_LISTEN": f"ipc://{run_dir}/exec.sock"}
    master = MasterProcess(None, env=env, args=[str(ROOT / "scripts" / "run")],
                           endpoint=env["SUPERVISOR_LISTEN"])
    try:
        master.wait_ready(timeout=120)
        assert sorted(master.worker_pids()) == [0, 1]
        children = [p.pid for p in master.descendants()]
        result = subprocess.run([str(ROOT / ".venv" / "bin" / "supervisor"), "exec", "echo", "hi"],
                                cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                                text=True, timeout=30)
        assert (result.returncode, result.stdout) == (0, "hi\n"), result.stderr
        master.wait_for(r"INFO .* scheduler starting: ticker every 1s -> tick$")
        master.wait_for(r"DEBUG .*workers.ticker: tick 2 ", timeout=10)
        lines = [master.wait_for(rf"^(\S+ \S+) .*workers.ticker: tick {n} .*previous at (\S+)\)$")
                 for n in range(3)]
        slots = [float(line.group(2)) for line in lines[1:]]  # ticks 0 and 1, as scheduled
        assert abs(slots[1] - slots[0] - 1.0) < 1e-6, slots
        # And they arrive in real time: each is logged within its own one-second slot.
        stamps = [datetime.strptime(line.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                  for line in lines[:2]]
        assert all(-0.01 < stamp - slot < 1.0 for stamp, slot in zip(stamps, slots, strict=True)), \
            (stamps, slots)
        os.killpg(master.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        assert master.wait_exit(30) == 0
        wait_until(lambda: gone(children), timeout=10)
    finally:
        master.stop()


def _ci(canary: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CANARY": canary, "PYTEST_ADDOPTS": "tests/data/ci_canary.py"}
    return subprocess.run(["bash", str(ROOT / ".ci" / "run")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_ci_entry_point_fails_when_a_test_fails():
    failed = _ci("fail")
    assert failed.returncode != 0
    assert "1 failed" in failed.stdout
    passed = _ci("pass")
    assert passed.returncode == 0, passed.stdout[-2000:]
    assert "1 passed" in passed.stdout
