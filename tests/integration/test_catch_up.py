"""Across a restart: the master SIGKILLed between two slots and started again 3.5 s later
on the same run_dir; the schedule's grid, numbering and catch-up policy hold."""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from tests.support import base_config, wait_until
from tests.ticks_support import start_ticking, status, ticks

OUTAGE = 3.5


def _kill_between_slots_and_restart(start_master, tmp_path: Path, catch_up: str):
    master, log = start_ticking(start_master, tmp_path, {"ticker": None, "schedules": [
        {"name": "every1s", "every": "1s", "handler": "tick", "catch_up": catch_up}]})
    wait_until(lambda: len(ticks(log)) >= 2, timeout=10)
    last = ticks(log)[-1]
    time.sleep(max(0.0, last["context"]["scheduledAt"] + 0.3 - time.time()))  # mid-interval
    os.kill(master.pid, signal.SIGKILL)
    master.wait_exit(5)
    killed = time.time()
    before = len(ticks(log))
    time.sleep(OUTAGE - (time.time() - killed))  # the outage under test
    config = yaml.safe_load(master.config_path.read_text())
    again = start_master(config=config, env={"TICK_LOG": str(log), "TICK_SLEEP": "0"})
    wait_until(lambda: len(ticks(log)) >= before + 2, timeout=10)
    return again, ticks(log)[:before], ticks(log)[before:]


def test_catch_up_latest_fires_once_for_the_latest_missed_slot(start_master, tmp_path):
    master, before, after = _kill_between_slots_and_restart(
        start_master, tmp_path, "latest")
    last, first, second = before[-1], after[0], after[1]
    slots = first["context"]["scheduledAt"] - last["context"]["scheduledAt"]
    assert slots == pytest.approx(round(slots), abs=1e-6), "the grid moved"
    assert first["body"]["tick"] == last["body"]["tick"] + round(slots)  # numbers continue
    announced = master.wait_for(r"schedule 'every1s': (\d+) slots passed while the scheduler "
                                r"was not running; catch_up latest: tick (\d+), the latest")
    assert int(announced.group(2)) == first["body"]["tick"]  # the catch-up tick ran first
    assert int(announced.group(1)) == round(slots)
    assert first["context"]["lastTick"] == last["context"]["scheduledAt"]
    assert round(slots) >= 4
    # Exactly one catch-up tick: the next one waits for its own slot.
    assert second["body"]["tick"] == first["body"]["tick"] + 1
    assert second["received"] >= second["context"]["scheduledAt"]
    stats = status(master)["schedules"]["every1s"]
    assert stats["skipped"]["late"] == round(slots) - 1
    master.wait_for(rf"schedule 'every1s' resumes after tick {last['body']['tick']}")


def test_catch_up_none_waits_for_the_next_slot(start_master, tmp_path):
    master, before, after = _kill_between_slots_and_restart(
        start_master, tmp_path, "none")
    last, first = before[-1], after[0]
    slots = first["context"]["scheduledAt"] - last["context"]["scheduledAt"]
    assert slots == pytest.approx(round(slots), abs=1e-6), "the grid moved"
    assert first["body"]["tick"] == last["body"]["tick"] + round(slots)
    announced = master.wait_for(r"schedule 'every1s': (\d+) slots passed while the scheduler "
                                r"was not running; catch_up none: the next, tick (\d+), fires")
    assert int(announced.group(2)) == first["body"]["tick"]  # no catch-up tick came first
    assert first["received"] >= first["context"]["scheduledAt"]
    assert int(announced.group(1)) == round(slots) - 1
    stats = status(master)["schedules"]["every1s"]
    assert stats["skipped"]["late"] == round(slots) - 1 >= 4


def test_a_corrupt_state_file_is_reported_in_one_line_and_ignored(start_master):
    run_dir = Path(tempfile.mkdtemp(prefix="sv-run-")) / "run"
    run_dir.mkdir(mode=0o700)
    (run_dir / "schedules.json").write_text('{"version": 1, "schedules": {"ticker": {"ke')
    (run_dir / "paused.json").write_text('{"paused": "ticker"}')
    log = run_dir.parent / "ticks.jsonl"
    config = base_config(run_dir, handlers={"tick": "tests.handlers:record_tick"},
                         ticker={"interval": "100ms", "handler": "tick"})
    master = start_master(config=config, env={"TICK_LOG": str(log), "TICK_SLEEP": "0"})
    wait_until(lambda: len(ticks(log)) >= 3)
    assert master.count(r"schedules\.json: not valid JSON .*: ignored, every schedule starts "
                        r"afresh$") == 1
    assert master.count(r"paused\.json: expected .*: ignored, no schedule is paused$") == 1
    assert master.count("Traceback") == 0
    assert ticks(log)[0]["body"]["tick"] <= 1
    saved = json.loads((run_dir / "schedules.json").read_text())  # rewritten whole
    assert saved["schedules"]["ticker"]["tick"] >= 2
