"""Ticks through a real master, scheduler process and workers."""

import itertools
import json
import os
import signal
import time
from pathlib import Path

import psutil

from tests.ops_support import cli
from tests.support import wait_until


def _ticks(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _start(start_master, tmp_path, schedule: dict, workers: int = 2, sleep: float = 0.0):
    log = tmp_path / "ticks.jsonl"
    master = start_master(env={"TICK_LOG": str(log), "TICK_SLEEP": str(sleep)},
                          pool={"num_workers": workers},
                          handlers={"tick": "tests.handlers:record_tick"},
                          **schedule)
    return master, log


def _scheduler_pid(master) -> int:
    return wait_until(lambda: next((p.pid for p in master.descendants()
                                    if "supervisor: scheduler" in " ".join(p.cmdline())), None))


def _status(master) -> dict:
    result = cli("status", "--json", "-c", str(master.config_path))
    return json.loads(result.stdout)


def test_ticks_every_100ms_without_gaps_or_drift(start_master, tmp_path):
    master, log = _start(start_master, tmp_path, {"ticker": {"interval": "100ms",
                                                             "handler": "tick"}})
    wait_until(lambda: len(_ticks(log)) >= 31, timeout=10)
    ticks = _ticks(log)[:31]
    assert [t["body"]["tick"] for t in ticks] == list(range(31))
    assert ticks[0]["context"]["lastTick"] is None
    for previous, current in itertools.pairwise(ticks):
        assert current["context"]["lastTick"] == previous["context"]["scheduledAt"]
        assert abs(current["context"]["scheduledAt"] - previous["context"]["scheduledAt"]
                   - 0.1) < 1e-6
        assert current["context"]["schedule"] == "ticker"
    start = ticks[0]["context"]["scheduledAt"]
    assert abs(ticks[-1]["context"]["scheduledAt"] - start - 3.0) < 1e-6
    assert ticks[-1]["received"] - ticks[-1]["context"]["scheduledAt"] < 0.05
    stats = _status(master)["schedules"]["ticker"]
    assert stats["skipped"]["late"] == 0


def test_slow_handler_is_skipped_as_overlap_and_never_delays_dispatch(start_master, tmp_path):
    master, log = _start(start_master, tmp_path,
                         {"ticker": {"interval": "100ms", "handler": "tick"}}, sleep=0.35)
    wait_until(lambda: len(_ticks(log)) >= 6, timeout=10)
    stats = _status(master)["schedules"]["ticker"]
    assert stats["skipped"]["overlap"] > 0
    emitted = stats["ticks"]
    accounted = stats["delivered"] + sum(stats["skipped"].values()) + stats["running"]
    assert accounted == emitted
    for tick in _ticks(log):
        assert tick["received"] - tick["context"]["scheduledAt"] < 0.02


def test_overlap_allow_uses_other_workers(start_master, tmp_path):
    master, log = _start(start_master, tmp_path, {
        "ticker": None,
        "schedules": [{"name": "fast", "every": "100ms", "handler": "tick", "overlap": "allow"}],
    }, workers=4, sleep=0.35)
    wait_until(lambda: len(_ticks(log)) >= 15, timeout=10)
    stats = _status(master)["schedules"]["fast"]
    assert stats["skipped"] == {"overlap": 0, "no_free_worker": 0, "late": 0}
    assert len({t["pid"] for t in _ticks(log)}) == 4


def test_killed_scheduler_restarts_and_numbers_continue(start_master, tmp_path):
    master, log = _start(start_master, tmp_path, {"ticker": {"interval": "100ms",
                                                             "handler": "tick"}})
    wait_until(lambda: len(_ticks(log)) >= 5)
    os.kill(_scheduler_pid(master), signal.SIGKILL)
    master.wait_for(r"scheduler killed by SIGKILL; restarting")
    before = len(_ticks(log))
    wait_until(lambda: len(_ticks(log)) >= before + 5)
    numbers = [t["body"]["tick"] for t in _ticks(log)]
    assert numbers == sorted(set(numbers)), "a tick number repeated"
    stats = _status(master)["schedules"]["ticker"]
    gaps = numbers[-1] + 1 - len(numbers)
    assert stats["skipped"]["late"] >= gaps - stats["skipped"]["no_free_worker"] > 0


def test_stopped_scheduler_coalesces_missed_ticks(start_master, tmp_path):
    master, log = _start(start_master, tmp_path, {"ticker": {"interval": "100ms",
                                                             "handler": "tick"}})
    wait_until(lambda: len(_ticks(log)) >= 3)
    scheduler = psutil.Process(_scheduler_pid(master))
    scheduler.suspend()
    time.sleep(1.0)  # the stall under test
    count = len(_ticks(log))
    scheduler.resume()
    wait_until(lambda: len(_ticks(log)) >= count + 3)
    after = _ticks(log)[count - 1:]
    jump = after[1]["body"]["tick"] - after[0]["body"]["tick"]
    assert 8 <= jump <= 11, jump
    assert after[2]["body"]["tick"] == after[1]["body"]["tick"] + 1
    assert after[2]["received"] - after[1]["received"] > 0.05, "missed ticks came as a burst"
    assert _status(master)["schedules"]["ticker"]["skipped"]["late"] == jump - 1


def test_cron_every_two_seconds_fires_on_even_seconds(start_master, tmp_path):
    _master, log = _start(start_master, tmp_path, {
        "ticker": None,
        "schedules": [{"name": "even", "cron": "*/2 * * * * *", "handler": "tick"}]})
    started = time.time()
    wait_until(lambda: time.time() - started >= 6, timeout=8, interval=0.2)
    ticks = _ticks(log)
    assert 2 <= len(ticks) <= 4
    assert all(round(t["context"]["scheduledAt"]) % 2 == 0 for t in ticks)
    assert all(t["context"]["scheduledAt"] == int(t["context"]["scheduledAt"]) for t in ticks)
