"""Schedules by hand: `supervisor tick`, `pause`, `resume`, `schedules`, and `check`'s list
of the next fire times; through a real master, its control socket and the CLI."""

from __future__ import annotations

import json
import signal
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import yaml

from supervisor.ops.control import ControlClient, ControlError
from supervisor.triggers.cron import parse_cron
from tests.ops_support import cli, write_config
from tests.support import wait_until
from tests.ticks_support import start_ticking, status, ticks

HOURLY = {"ticker": None, "schedules": [{"name": "hourly", "every": "1h", "handler": "tick"}]}


def _config(master) -> dict:
    return yaml.safe_load(master.config_path.read_text())


def _control(master) -> ControlClient:
    return ControlClient(f"ipc://{_config(master)['server']['run_dir']}/control.sock")


def test_tick_runs_at_once_through_the_normal_path_as_manual(start_master, tmp_path):
    master, log = start_ticking(start_master, tmp_path, HOURLY)
    wait_until(lambda: len(ticks(log)) >= 1)  # tick 0, at the start
    with _control(master) as control:
        asked = time.time()
        reply = control.call("tick", name="hourly")
    assert reply["fired"] is True
    wait_until(lambda: len(ticks(log)) >= 2, timeout=5)
    manual = ticks(log)[1]
    assert manual["received"] - asked < 0.1
    assert manual["body"] == {"tick": None, "manual": True}
    assert manual["context"]["manual"] is True
    assert manual["context"]["lastTick"] == ticks(log)[0]["context"]["scheduledAt"]
    wait_until(lambda: status(master)["schedules"]["hourly"]["manual"]["delivered"] == 1)
    stats = status(master)["schedules"]["hourly"]
    assert stats["lastOutcome"] == "manual: delivered"
    assert (stats["delivered"], stats["ticks"]) == (1, 1)  # the numbering is untouched
    result = cli("tick", "hourly", "-c", str(master.config_path))
    assert result.returncode == 0, result.stderr
    assert "manual tick sent to worker" in result.stdout
    result = cli("tick", "nightly", "-c", str(master.config_path))
    assert result.returncode == 1
    assert result.stderr.strip() == ("supervisor: tick nightly: BadRequest: unknown schedule "
                                     "'nightly' (schedules: hourly)")


def test_tick_is_refused_while_a_tick_runs_under_overlap_skip(start_master, tmp_path):
    master, log = start_ticking(start_master, tmp_path, HOURLY, sleep=4.0)
    wait_until(lambda: len(ticks(log)) >= 1)  # tick 0 is still running for 4 s
    result = cli("tick", "hourly", "-c", str(master.config_path))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "supervisor: tick hourly: TickRefused: schedule 'hourly' has a tick still running and "
        "its overlap policy is skip: not fired")
    with _control(master) as control:
        stats = control.call("status")["schedules"]["hourly"]
    assert stats["manual"] == {"delivered": 0, "failed": 0, "refused": 1}
    assert stats["lastOutcome"] == "manual: refused (overlap)"
    assert stats["running"] == 1


def test_pause_and_resume_survive_a_reset_and_show_everywhere(start_master, tmp_path):
    master, log = start_ticking(start_master, tmp_path, {"ticker": {"interval": "200ms",
                                                                    "handler": "tick"}})
    wait_until(lambda: len(ticks(log)) >= 2)
    result = cli("pause", "ticker", "-c", str(master.config_path))
    assert (result.returncode, result.stdout.strip()) == (0, "supervisor: schedule ticker is "
                                                             "paused")
    paused_at = time.time()
    master.signal(signal.SIGHUP)  # a reset replaces every worker
    master.wait_for(r"reset done")
    wait_until(lambda: status(master)["schedules"]["ticker"]["skipped"]["paused"] >= 5,
               timeout=5)
    assert all(t["context"]["scheduledAt"] < paused_at + 0.2 for t in ticks(log))
    stats = status(master)["schedules"]["ticker"]
    assert stats["paused"] is True
    listing = cli("schedules", "-c", str(master.config_path)).stdout
    assert listing.splitlines()[1].split()[:4] == ["ticker", "every", "0.2s", "paused"]
    assert json.loads(cli("schedules", "--json", "-c", str(master.config_path)).stdout)[
        "schedules"]["ticker"]["paused"] is True
    master.wait_for(r"schedule 'ticker': .* skipped \(paused: the schedule is paused\)")
    text = cli("status", "-c", str(master.config_path)).stdout
    assert "schedule   ticker (every 0.2s): paused, 0 running, highest tick " in text
    shown = text[text.index("schedule   ticker"):]
    for words in ("last tick 20", "next due 20", "delivered, 0 failed, skipped: 0 overlap, "
                  "0 no_free_worker, ", "paused; last outcome: skipped: paused"):
        assert words in " ".join(shown.split()), words
    assert max(len(line) for line in text.splitlines()) <= 100
    count = len(ticks(log))
    result = cli("resume", "ticker", "-c", str(master.config_path))
    resumed = time.time()
    assert result.stdout.strip() == "supervisor: schedule ticker is running"
    wait_until(lambda: len(ticks(log)) > count, timeout=3)
    first = ticks(log)[count]
    assert resumed - 0.2 < first["context"]["scheduledAt"] < resumed + 0.2  # its next slot
    assert status(master)["schedules"]["ticker"]["paused"] is False


def test_pause_is_kept_across_a_master_restart(start_master, tmp_path):
    master, log = start_ticking(start_master, tmp_path, HOURLY)
    with _control(master) as control:
        assert control.call("pause", name="hourly")["changed"] is True
        assert control.call("pause", name="hourly")["changed"] is False
        with pytest.raises(ControlError, match="unknown schedule"):
            control.call("resume", name=3)
    master.stop()
    again = start_master(config=_config(master), env={"TICK_LOG": str(log), "TICK_SLEEP": "0"})
    again.wait_for(r"schedule 'hourly' stays paused")
    assert status(again)["schedules"]["hourly"]["paused"] is True


def test_check_lists_the_next_five_fire_times_in_the_zone(tmp_path):
    path = write_config(tmp_path, handlers={"tick": "tests.handlers:record_tick"}, ticker=None,
                        schedules=[{"name": "nightly", "cron": "0 30 2 * * *",
                                    "tz": "America/New_York", "handler": "tick"}])
    now = time.time()
    result = cli("check", "-c", str(path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    start = lines.index('schedule nightly: cron "0 30 2 * * *" America/New_York, dst shift, '
                        'catch_up latest, overlap skip; next:')
    cron, zone = parse_cron("0 30 2 * * *", "America/New_York"), ZoneInfo("America/New_York")
    expected, t = [], now
    for _ in range(5):
        t = cron.next_after(t)
        expected.append("  " + datetime.fromtimestamp(t, zone).strftime("%Y-%m-%d %H:%M:%S %Z"))
    assert lines[start + 1:start + 6] == expected
