"""The schedules' state files: written whole, read back, refused in one line when broken."""

from __future__ import annotations

import json
import logging
import os
import stat

import pytest

from supervisor.scheduling.state import (
    Journal,
    StateError,
    load_paused,
    load_resume,
    read_json,
    save_paused,
    schedule_key,
    write_atomic,
)

EVERY = {"name": "e", "every": 0.5, "cron": None, "anchor": 100.0}
CRON = {"name": "c", "every": None, "cron": "0 30 2 * * *", "tz": "Europe/Berlin",
        "dst": "shift", "anchor": 100.0}


def test_the_journal_is_read_back_as_where_numbering_resumes(tmp_path):
    path = tmp_path / "schedules.json"
    journal = Journal(path, [EVERY, CRON], {})
    journal.reserve("e", 7, 103.5, 100.0)
    journal.reserve("c", 2, 5000.0, 100.0)
    assert journal.wait("e", 7, 5.0) and journal.wait("c", 2, 5.0)
    journal.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not list(tmp_path.glob(".*tmp"))
    assert load_resume(path, [EVERY, CRON]) == {
        "e": {"next_tick": 8, "last_tick": 103.5, "anchor": 100.0},
        "c": {"next_tick": 3, "last_tick": 5000.0, "anchor": 100.0}}
    # A schedule whose grid changed in the config starts afresh; the others resume.
    changed = {**CRON, "tz": "UTC"}
    assert set(load_resume(path, [EVERY, changed])) == {"e"}


def test_a_restarted_journal_keeps_the_schedules_that_have_not_fired_yet(tmp_path):
    path = tmp_path / "schedules.json"
    resume = {"c": {"next_tick": 3, "last_tick": 5000.0, "anchor": 100.0},
              "e": {"next_tick": 0, "last_tick": None, "anchor": 100.0}}
    journal = Journal(path, [EVERY, CRON], resume)
    assert journal.asked("c", 2) and not journal.asked("e", 0)
    assert journal.wait("c", 2, 0.0)  # what it resumed from counts as on disk
    journal.reserve("e", 2, 101.0, 100.0)  # ticks 0..2 counted as fired
    assert journal.asked("e", 0) and journal.asked("e", 2) and not journal.asked("e", 3)
    assert journal.wait("e", 2, 5.0)
    assert not journal.wait("e", 3, 0.05)
    journal.close()
    assert load_resume(path, [EVERY, CRON])["c"]["next_tick"] == 3


@pytest.mark.parametrize(("text", "expected"), [
    ('{"version": 1, "schedules": {"e": {"ke', "not valid JSON (Unterminated string"),
    ("", "not valid JSON (Expecting value at line 1 column 1"),
    ("[" * 100000, "not valid JSON (nested too deeply"),
    ('{"version": 2, "schedules": {}}', 'expected {"version": 1, "schedules": {...}}'),
    ('{"version": 1, "schedules": {"e": {"key": "every 0.5", "anchor": 1, "tick": -1, '
     '"slot": 1}}}', "schedule 'e': expected {key, anchor, tick, slot} with numbers"),
    ('{"version": 1, "schedules": {"e": {"key": "every 0.5", "anchor": NaN, "tick": 1, '
     '"slot": 1}}}', "schedule 'e': expected"),
])
def test_a_broken_journal_is_one_line_naming_the_file(tmp_path, text, expected):
    path = tmp_path / "schedules.json"
    path.write_text(text)
    with pytest.raises(StateError) as caught:
        load_resume(path, [EVERY])
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and expected in message
    assert "\n" not in message


def test_no_file_means_nothing_saved_and_a_symlink_is_not_followed(tmp_path):
    assert load_resume(tmp_path / "schedules.json", [EVERY]) == {}
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"paused": ["e"]}))
    (tmp_path / "paused.json").symlink_to(target)
    with pytest.raises(StateError, match="cannot read"):
        read_json(tmp_path / "paused.json")


def test_paused_schedules_round_trip_and_unknown_names_drop(tmp_path):
    path = tmp_path / "paused.json"
    save_paused(path, {"e", "gone"})
    assert load_paused(path, ["e", "c"]) == {"e"}
    path.write_text('{"paused": "e"}')
    with pytest.raises(StateError, match=r'expected \{"paused": \[schedule names\]\}'):
        load_paused(path, ["e"])


def test_a_journal_that_cannot_be_written_is_reported_not_raised(tmp_path, caplog):
    journal = Journal(tmp_path / "missing" / "schedules.json", [EVERY], {})
    with caplog.at_level(logging.WARNING):
        journal.reserve("e", 0, 100.0, 100.0)
        assert journal.wait("e", 0, 5.0)  # the tick is not held back
        journal.reserve("e", 1, 100.5, 100.0)
        assert journal.wait("e", 1, 5.0)
        journal.close()
    assert len(caplog.records) == 1  # once a minute at most
    assert "cannot save the schedules' state" in caplog.records[0].getMessage()


def test_keys_name_what_the_numbering_depends_on():
    assert schedule_key(EVERY) == "every 0.5"
    assert schedule_key(CRON) == "cron 0 30 2 * * * tz=Europe/Berlin dst=shift"
    assert schedule_key({**CRON, "tz": None, "dst": None}) == "cron 0 30 2 * * * tz=local dst=shift"


def test_write_atomic_replaces_the_whole_file(tmp_path):
    path = tmp_path / "f.json"
    write_atomic(path, {"a": "x" * 10000})
    write_atomic(path, {"b": 1})
    assert read_json(path) == {"b": 1}
