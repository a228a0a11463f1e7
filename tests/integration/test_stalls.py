"""Stalls of the master, the scheduler or both (SIGSTOP/SIGCONT on the real processes):
the slots that passed are counted late, one tick runs for the latest, none runs stale."""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from tests.support import wait_until
from tests.ticks_support import scheduler_pid, start_ticking, status, ticks

INTERVAL = 0.2
STALL = 5 * INTERVAL


def _stopped(pids: list[int], seconds: float) -> float:
    """Freeze `pids` for `seconds` (the stall under test); the wall time they resumed."""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        resumed = time.time()
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    return resumed


def _skips_logged(master, schedule: str) -> int:
    """Ticks that the master's info lines report skipped for `schedule`."""
    total = 0
    for line in master.lines:
        if f"schedule {schedule!r}: " not in line or "skipped" not in line:
            continue
        many = re.search(r": (\d+) (?:ticks up to tick|more skipped)", line)
        total += int(many.group(1)) if many else 1
    return total


@pytest.mark.parametrize("who", ["master", "scheduler", "both"])
def test_a_stall_counts_late_and_runs_the_latest_slot_once(start_master, tmp_path, who):
    master, log = start_ticking(start_master, tmp_path,
                                {"ticker": {"interval": "200ms", "handler": "tick"}})
    wait_until(lambda: len(ticks(log)) >= 3)
    pids = {"master": [master.pid], "scheduler": [scheduler_pid(master)],
            "both": [master.pid, scheduler_pid(master)]}[who]
    resumed = _stopped(pids, STALL)
    before = [t for t in ticks(log) if t["received"] < resumed]
    wait_until(lambda: len(ticks(log)) >= len(before) + 3, timeout=5)
    after = ticks(log)[len(before):]
    first = after[0]
    slot = first["context"]["scheduledAt"]
    # One tick, for the latest slot at the moment the stall ended, within one interval.
    assert resumed - INTERVAL - 0.01 <= slot <= resumed + 0.01
    assert first["received"] - resumed < INTERVAL
    assert after[1]["body"]["tick"] == first["body"]["tick"] + 1
    assert after[1]["received"] >= after[1]["context"]["scheduledAt"], "a burst"
    stats = status(master)["schedules"]["ticker"]
    gap = first["body"]["tick"] - before[-1]["body"]["tick"] - 1
    assert 4 <= gap <= 6  # five intervals, plus or minus one
    assert stats["skipped"]["overlap"] == 0
    received = {t["body"]["tick"] for t in ticks(log)}
    missing = sum(1 for n in range(stats["ticks"]) if n not in received)
    # The stall's slots are late; on a busy machine another tick may be late too.
    assert gap <= stats["skipped"]["late"] + stats["skipped"]["no_free_worker"] <= missing
    master.wait_for(r"schedule 'ticker': .*skipped \(late")
    wait_until(lambda: _skips_logged(master, "ticker") >= gap, timeout=3)
    assert _skips_logged(master, "ticker") == sum(stats["skipped"].values())


def test_overlap_allow_runs_no_stale_ticks_together(start_master, tmp_path):
    master, log = start_ticking(start_master, tmp_path, {"ticker": None, "schedules": [
        {"name": "allow", "every": "200ms", "handler": "tick", "overlap": "allow"}]},
        workers=4, sleep=0.5)
    wait_until(lambda: len(ticks(log)) >= 3)
    resumed = _stopped([master.pid], 2.0)
    count = len([t for t in ticks(log) if t["received"] < resumed])
    wait_until(lambda: len(ticks(log)) >= count + 3, timeout=5)
    after = ticks(log)[count:]
    for tick in after:  # each ran within its own slot's interval: nothing stale, no burst
        assert tick["received"] - tick["context"]["scheduledAt"] < INTERVAL
    started = sorted(t["received"] for t in after)
    assert started[1] - started[0] > INTERVAL / 2
    assert status(master)["schedules"]["allow"]["skipped"]["late"] >= 8
