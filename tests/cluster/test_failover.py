"""`Client([e1, e2, e3])` across real masters while one is SIGKILLed and another SIGSTOPped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from supervisor import Client
from supervisor.errors import ExecTimeout, WorkerLost
from supervisor.failover import FailoverClient
from tests.support import ROOT

pytestmark = pytest.mark.timeout(90)
REQUESTS = 1000


def test_a_thousand_requests_survive_a_killed_and_a_stopped_master(start_master):
    masters = [start_master(ready=False, server={"log": {"level": "info"}}) for _ in range(3)]
    for master in masters:
        master.wait_ready()
    began = time.monotonic()
    killed, stopped, healthy = masters
    outcomes: list[tuple[str, float, float, str]] = []  # (endpoint, start, end, outcome)
    stopped_at = None
    try:
        with Client([m.endpoint for m in masters]) as client:
            assert isinstance(client, FailoverClient)
            for index in range(REQUESTS):
                if index == REQUESTS // 4:
                    os.killpg(killed.pid, signal.SIGKILL)
                if index == REQUESTS // 2:
                    stopped_at = time.monotonic()
                    os.killpg(stopped.pid, signal.SIGSTOP)
                start = time.monotonic()
                try:
                    client.exec("echo", b"x", timeout=5.0)
                    outcome = "ok"
                except (ExecTimeout, WorkerLost) as exc:
                    outcome = type(exc).__name__
                outcomes.append((client.last_endpoint, start, time.monotonic(), outcome))
    finally:
        os.killpg(stopped.pid, signal.SIGCONT)
    assert len(outcomes) == REQUESTS
    print(f"{REQUESTS} requests in {time.monotonic() - began:.2f}s; errors:",
          [o[3] for o in outcomes if o[3] != "ok"],
          f"slowest {max(end - start for _, start, end, _ in outcomes):.3f}s")
    errors = [o for o in outcomes if o[3] != "ok"]
    # Only a request in flight when its master went away may fail, and only with a typed error.
    assert len(errors) <= 2, errors
    assert {o[0] for o in errors} <= {killed.endpoint, stopped.endpoint}
    assert max(end - start for _, start, end, _ in outcomes) < 5.0  # none hangs
    to_stopped = [start for endpoint, start, _, _ in outcomes
                  if endpoint == stopped.endpoint and start >= stopped_at]
    assert all(start - stopped_at < 2.0 for start in to_stopped)
    assert sum(1 for o in outcomes if o[0] == healthy.endpoint and o[3] == "ok") > REQUESTS / 3


def test_exec_with_several_endpoints_reaches_a_live_master(start_master, tmp_path):
    live = start_master()
    dead = f"ipc://{tmp_path}/nobody.sock"
    for order in ([dead, live.endpoint], [live.endpoint, dead]):
        out = subprocess.run([sys.executable, "-m", "supervisor", "exec", "--endpoint",
                              ",".join(order), "echo", "hello"], capture_output=True,
                             text=True, timeout=30, cwd=ROOT)
        assert (out.returncode, out.stdout) == (0, "hello\n"), out.stderr
