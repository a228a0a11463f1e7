"""Skipped ticks in the log: the first at once, then one line per schedule per second."""

from __future__ import annotations

import logging

from supervisor.scheduling.notices import SkipNotices


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _notices() -> tuple[SkipNotices, Lines]:
    logger = logging.getLogger("tests.notices")
    logger.handlers[:] = [lines := Lines()]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return SkipNotices(logger), lines


def test_the_first_skip_is_logged_at_once_the_rest_once_a_second_with_their_count():
    notices, lines = _notices()
    notices.note("t", "overlap", 1, 5, now=10.0)
    assert lines.lines == ["schedule 't': tick 5 skipped (overlap: its previous tick was still "
                           "running)"]
    notices.note("t", "late", 3, 9, now=10.2)
    notices.note("t", "overlap", 1, 10, now=10.5)
    notices.note("u", "paused", 1, 0, now=10.5)  # another schedule has its own second
    assert len(lines.lines) == 2
    assert notices.next_deadline() == 11.0
    notices.flush(10.9)
    assert len(lines.lines) == 2
    notices.flush(11.0)
    assert lines.lines[-1] == ("schedule 't': 4 more skipped within 1s (3 late, 1 overlap), "
                               "up to tick 10")
    assert notices.next_deadline() is None
    notices.note("t", "late", 2, 12, now=11.5)  # within the second the flush began
    notices.flush(12.0)
    assert lines.lines[-1] == "schedule 't': 2 more skipped within 1s (2 late), up to tick 12"
    notices.note("t", "late", 7, 30, now=20.0)
    assert lines.lines[-1] == ("schedule 't': 7 ticks up to tick 30 skipped (late: its slot "
                               "passed while the scheduler or the master could not run)")
