"""Faults injected while clients keep the pool busy; every figure is printed.

Every request must end in a result or `WorkerLost`; none may hang, and the
pool must come back to full strength.
"""

import json
import os
import signal
import time

import psutil

from tests.ops_support import cli
from tests.support import gone, kill_workers_randomly, wait_until


def _report(capsys, name: str, figures: dict) -> None:
    with capsys.disabled():
        print(f"\n[chaos] {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def _ready_workers(master) -> int:
    result = cli("workers", "--json", "-c", str(master.config_path))
    rows = json.loads(result.stdout)["workers"]
    return sum(1 for row in rows if row["state"] in ("ready", "working"))


def test_random_worker_kills_under_load(start_master, start_load, capsys):
    master = start_master(pool={"num_workers": 4})
    load = start_load(master.endpoint, clients=2, timeout=10).wait_running()
    kills = kill_workers_randomly(master)  # one kill every 100 ms for 10 s
    last_kill = time.monotonic()
    wait_until(lambda: _ready_workers(master) == 4, timeout=1.0)
    recovered = time.monotonic() - last_kill
    outcomes, _ = load.stop()
    _report(capsys, "random kills", {"kills": kills, **outcomes,
                                     "recovered_s": round(recovered, 3)})
    assert set(outcomes) <= {"ok", "WorkerLost"}, outcomes
    assert outcomes["ok"] > 0 and kills >= 50


def test_killed_master_leaves_no_descendant(start_master, tmp_path, capsys):
    master = start_master(env={"TICK_LOG": str(tmp_path / "ticks.jsonl")},
                          handlers={"sleep": "tests.handlers:sleep",
                                    "tick": "tests.handlers:record_tick"},
                          ticker={"interval": "100ms", "handler": "tick"},
                          pool={"num_workers": 3})
    from supervisor import Client

    client = Client(master.endpoint)
    for i in range(2):
        client._sock.send_multipart([bytes([i + 1]), b"sleep", b"600"])
    master.wait_count(r"stdout: sleeping 600s", 2)
    wait_until(lambda: (tmp_path / "ticks.jsonl").exists())
    descendants = master.descendants()
    titles = sorted(" ".join(p.cmdline())[:40] for p in descendants)
    os.kill(master.pid, signal.SIGKILL)
    killed = time.monotonic()
    wait_until(lambda: gone([p.pid for p in descendants]), timeout=2.0)
    _report(capsys, "master SIGKILL", {"descendants": len(descendants),
                                       "gone_after_s": round(time.monotonic() - killed, 3)})
    client.close()
    assert any("scheduler" in title for title in titles), titles
    assert sum("worker" in title for title in titles) == 3, titles


def test_flapping_after_reset_backs_off_quietly_and_recovers(start_master, tmp_path, capsys):
    marker = tmp_path / "broken"
    master = start_master(env={"FLAKY_MARKER": str(marker)}, pool={"num_workers": 2},
                          handlers={"ok": "tests.flaky_import:ok"})
    marker.write_text("raise")
    assert cli("reset", "-c", str(master.config_path)).returncode == 0
    master.wait_for(r"ERROR .*pool degraded: worker \d fails at start")
    master.wait_for(r"ERROR .*fails? at start.*handlers.ok: cannot import module 'tests.flaky")
    status = cli("status", "--json", "-c", str(master.config_path))
    assert status.returncode == 1
    assert json.loads(status.stdout)["pool"]["degraded"] is True
    cpu = psutil.Process(master.pid)
    cpu.cpu_percent()
    time.sleep(10)  # the flapping period under test
    master_cpu = cpu.cpu_percent()
    delays = [float(m) for m in _next_tries(master)]
    per_slot = len(delays) // 2
    _report(capsys, "flapping", {"attempts": len(delays), "master_cpu_pct": master_cpu,
                                 "max_delay_s": max(delays)})
    assert master_cpu < 5.0
    assert 8 <= len(delays) <= 20 and per_slot <= 8
    assert sorted(set(delays))[:4] == [0.1, 0.2, 0.4, 0.8]
    assert max(delays) >= 3.2
    assert master.count(r"pool degraded") == 1
    assert master.count(r"pool healthy again") == 0
    marker.unlink()
    assert cli("reset", "-c", str(master.config_path)).returncode == 0
    master.wait_for(r"pool healthy again")
    wait_until(lambda: cli("status", "-c", str(master.config_path)).returncode == 0)


def _next_tries(master) -> list[str]:
    import re

    regex = re.compile(r"next try in (\d+\.\d+)s")
    return [m.group(1) for line in list(master.lines) if (m := regex.search(line))]


def test_cli_reset_under_load_fails_nothing(start_master, start_load, capsys):
    master = start_master(pool={"num_workers": 2})
    before = set(master.worker_pids().values())
    load = start_load(master.endpoint, clients=2).wait_running()
    assert cli("reset", "-c", str(master.config_path)).returncode == 0
    wait_until(lambda: len(master.worker_pids()) == 2
               and not set(master.worker_pids().values()) & before, timeout=10)
    outcomes, _ = load.stop()
    _report(capsys, "reset under load", dict(outcomes))
    assert set(outcomes) == {"ok"}, outcomes
