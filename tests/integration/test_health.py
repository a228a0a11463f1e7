"""Health that tells the truth: stuck workers show as stuck, exit codes are the process's own,
and a huge write becomes a log line of bounded length that says it was cut."""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest

from supervisor import Client
from supervisor.errors import WorkerLost
from supervisor.worker.capture import MAX_LINE
from tests.ops_support import cli
from tests.support import wait_until


def _status(master) -> tuple[int, dict]:
    result = cli("status", "--json", "-c", str(master.config_path))
    return result.returncode, json.loads(result.stdout)


def test_a_worker_busy_past_stuck_after_shows_as_stuck_without_exec_ttl(start_master):
    master = start_master(pool={"num_workers": 2, "supervisor": {"stuck_after": "500ms"}},
                          metrics={"address": "127.0.0.1:0"})
    url = master.wait_for(r"metrics on (http://\S+)").group(1)

    def call() -> None:
        with Client(master.endpoint) as client:
            client.exec("sleep", b"8", timeout=30)  # outlasts the CLI calls below under load

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    master.wait_for(r"stdout: sleeping 8s")
    wait_until(lambda: _status(master)[1]["pool"]["stuck"] == 1, timeout=3)
    code, status = _status(master)
    assert code == 1 and status["state"] == "degraded" and not status["healthy"]
    assert status["pool"]["working"] == 0 and status["pool"]["ready"] == 1
    rows = json.loads(cli("workers", "--json", "-c", str(master.config_path)).stdout)["workers"]
    assert sorted(row["state"] for row in rows) == ["ready", "stuck"]
    with urllib.request.urlopen(url, timeout=5) as response:
        assert 'supervisor_workers{state="stuck"} 1.0' in response.read().decode()
    text = cli("status", "-c", str(master.config_path)).stdout
    assert "1 stuck (busy past stuck_after)" in text
    caller.join(15)
    code, status = _status(master)
    assert code == 0 and status["pool"]["stuck"] == 0 and status["state"] == "running"


@pytest.mark.parametrize("code", [4, 0])
def test_a_handler_exit_code_is_reported_as_given(start_master, code):
    master = start_master(pool={"num_workers": 1},
                          handlers={"exit_with": "tests.handlers:exit_with"})
    with Client(master.endpoint) as client, pytest.raises(WorkerLost,
                                                           match=f"exited with code {code} "):
        client.exec("exit_with", str(code).encode(), timeout=10)


def test_a_10_mb_line_is_cut_and_says_so(start_master):
    master = start_master(pool={"num_workers": 1},
                          handlers={"shout": "tests.handlers:shout_lines",
                                    "echo": "tests.handlers:echo"})
    with Client(master.endpoint) as client:
        assert client.exec("shout", str(10 * 2**20).encode(), timeout=30) == b"written"
        assert client.exec("echo", b"still serving") == b"still serving"
    match = master.wait_for(r"stdout: (x+) \[line cut at (\d+) bytes; the rest of it is not "
                            r"logged\]")
    assert len(match.group(1)) == int(match.group(2)) == MAX_LINE
    assert max(len(line) for line in master.lines) < MAX_LINE + 200
