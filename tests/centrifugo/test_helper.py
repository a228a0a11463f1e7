"""The helper process under the master: limits, restarts, graceful stop, busy address, imports."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from tests.centrifugo.conftest import CREDENTIALS, SERVING, TOKEN_ENV, ProxyMaster, proxy_config
from tests.centrifugo.harness import FakeCentrifugo, free_port
from tests.centrifugo.test_proxy import b64, ok, rpc, unb64
from tests.support import ROOT, MasterProcess, base_config, gone, wait_until

HELPER_TITLE = "supervisor: centrifugo"


@pytest.fixture(scope="module")
def small(node):
    """A master whose proxy serves at most 4 calls at once."""
    master = ProxyMaster(max_concurrent=4)
    fake = FakeCentrifugo(node, master.target)
    yield master, fake
    fake.close()
    master.close()


def helper_pid(master: MasterProcess) -> int:
    for child in master.descendants():
        try:
            if " ".join(child.cmdline()).strip() == HELPER_TITLE:
                return child.pid
        except psutil.NoSuchProcess:
            continue
    raise AssertionError("no helper process")


def mapped(pid: int, library: str) -> bool:
    """Whether a process has a shared object whose path contains `library` loaded."""
    return library in Path(f"/proc/{pid}/maps").read_text()


# --- 6. over max_concurrent ---

def test_calls_beyond_max_concurrent_are_resource_exhausted_and_none_hang(small):
    _, fake = small
    calls = [{"method": "RPC", "metadata": CREDENTIALS, "timeout_ms": 10000,
              "request": {"method": "sleep", "data": b64(json.dumps({"seconds": 0.5}))}}
             for _ in range(12)]
    answers = fake.many(calls)
    statuses = sorted(a.get("status") or "OK" for a in answers)
    assert statuses.count("RESOURCE_EXHAUSTED") >= 8, statuses
    assert set(statuses) <= {"OK", "RESOURCE_EXHAUSTED"}
    refused = [a for a in answers if a.get("status") == "RESOURCE_EXHAUSTED"]
    served = [a["elapsed_ms"] for a in answers if a["ok"]]
    assert max(a["elapsed_ms"] for a in refused) < min(served), answers  # refused at once
    assert "max_concurrent" in refused[0]["details"]


# --- 7. restarts and the graceful stop ---

def test_a_killed_helper_is_unavailable_then_serving_again_within_3s(small):
    master, fake = small
    pid = helper_pid(master.master)
    psutil.Process(pid).kill()
    wait_until(lambda: gone([pid]), 5)
    killed = time.monotonic()
    outcomes = []
    while time.monotonic() - killed < 5:
        answer = rpc(fake, "echo", fresh=True, timeout_ms=1000)
        outcomes.append(answer.get("status") or "OK")
        if answer["ok"]:
            break
    back = time.monotonic() - killed
    assert outcomes[-1] == "OK", outcomes
    assert set(outcomes[:-1]) <= {"UNAVAILABLE"}, outcomes
    assert back < 3.0
    assert helper_pid(master.master) != pid


def test_sigterm_during_a_call_lets_it_finish_then_everything_exits(node):
    master = ProxyMaster()
    fake = FakeCentrifugo(node, master.target)
    try:
        pending = fake.send(op="call", target=master.target, method="RPC", metadata=CREDENTIALS,
                            timeout_ms=10000, request={"method": "sleep", "data": b64(
                                json.dumps({"seconds": 1.0}))})
        master.master.wait_for(r"sleeping 1.0s")
        processes = master.master.descendants()
        master.master.signal(signal.SIGTERM)
        answer = fake.result(pending)
        assert json.loads(unb64(ok(answer)["result"]["data"]))["slept"] == 1.0
        assert master.master.wait_exit(15) == 0
        wait_until(lambda: gone([p.pid for p in processes]), 5)
    finally:
        fake.close()
        master.close()


# --- start-up ---

def test_a_busy_proxy_listen_stops_the_start_with_one_line(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        config = tmp_path / "supervisor.yaml"
        config.write_text(yaml.safe_dump(proxy_config(tmp_path / "run", port)))
        done = subprocess.run([sys.executable, "-m", "supervisor", "run", "-c", str(config)],
                              cwd=ROOT, env={**TOKEN_ENV, "PATH": "/usr/bin:/bin"},
                              capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    named = [line for line in done.stderr.splitlines() if "proxy_listen" in line]
    assert len(named) == 1, done.stderr
    assert named[0].endswith(f"centrifugo.proxy_listen tcp://127.0.0.1:{port}: "
                             "Address already in use")
    assert "Traceback" not in done.stderr
    assert "starting 2 workers" not in done.stderr


def test_check_validates_the_section_and_imports_its_handlers(tmp_path):
    config = proxy_config(tmp_path / "run", free_port())
    path = tmp_path / "supervisor.yaml"
    path.write_text(yaml.safe_dump(config))
    good = subprocess.run([sys.executable, "-m", "supervisor", "check", "-c", str(path)],
                          cwd=ROOT, env={**TOKEN_ENV, "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=30)
    assert good.returncode == 0, good.stderr
    assert "centrifugo: OK (proxy on tcp://127.0.0.1:" in good.stdout
    config["centrifugo"]["handlers"]["rpc"] = "tests.centrifugo.handlers:missing"
    path.write_text(yaml.safe_dump(config))
    bad = subprocess.run([sys.executable, "-m", "supervisor", "check", "-c", str(path)],
                         cwd=ROOT, env={**TOKEN_ENV, "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2
    assert re.search(r"centrifugo\.rpc.*has no attribute 'missing'", bad.stderr), bad.stderr


# --- 9. who imports gRPC ---

def test_check_without_the_section_never_imports_grpc(tmp_path):
    path = tmp_path / "supervisor.yaml"
    path.write_text(yaml.safe_dump(base_config(tmp_path / "run")))
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "supervisor", "check",
                           "-c", str(path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    modules = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
               if line.startswith("import time:")}
    assert "supervisor.config" in modules
    assert not {m for m in modules if m.startswith(("grpc", "google.protobuf"))}


def test_only_the_helper_loads_grpc(small):
    master, _ = small
    helper = helper_pid(master.master)
    others = [p.pid for p in master.master.descendants() if p.pid != helper]
    assert mapped(helper, "cygrpc")
    assert others, "expected workers and a forkserver"
    for pid in [master.master.pid, *others]:
        assert not mapped(pid, "cygrpc"), psutil.Process(pid).cmdline()
        assert not mapped(pid, "_upb"), psutil.Process(pid).cmdline()
    assert master.master.count(SERVING) >= 1
