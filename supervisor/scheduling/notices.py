"""Skipped and late ticks in the log: each one reported, without flooding it.

The first skip of a schedule is logged at once; further ones within the same second are
added up and logged as one line with their count when that second is over. Pure but for
the logger: the caller passes the monotonic time.
"""

from __future__ import annotations

import logging
from collections import Counter

WHY = {
    "overlap": "its previous tick was still running",
    "no_free_worker": "no worker was free",
    "late": "its slot passed while the scheduler or the master could not run",
    "paused": "the schedule is paused",
}


class SkipNotices:
    """At most one line per schedule per `every` seconds, with the count of what it covers."""

    def __init__(self, logger: logging.Logger, every: float = 1.0) -> None:
        self.log = logger
        self.every = every
        self.quiet_until: dict[str, float] = {}
        self.pending: dict[str, Counter[str]] = {}
        self.last_tick: dict[str, int] = {}

    def note(self, schedule: str, reason: str, count: int, tick: int, now: float) -> None:
        """`count` ticks of `schedule` up to number `tick` were skipped for `reason`."""
        if count <= 0:
            return
        if now >= self.quiet_until.get(schedule, 0.0):
            self.quiet_until[schedule] = now + self.every
            what = f"tick {tick}" if count == 1 else f"{count} ticks up to tick {tick}"
            self.log.info("schedule %r: %s skipped (%s: %s)", schedule, what, reason, WHY[reason])
            return
        self.pending.setdefault(schedule, Counter())[reason] += count
        self.last_tick[schedule] = tick

    def flush(self, now: float) -> None:
        """Log what each schedule's quiet second held, once that second is over."""
        for schedule in [s for s in self.pending if now >= self.quiet_until[s]]:
            reasons = self.pending.pop(schedule)
            self.quiet_until[schedule] = now + self.every
            total = sum(reasons.values())
            self.log.info("schedule %r: %d more skipped within %gs (%s), up to tick %d",
                          schedule, total, self.every,
                          ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items())),
                          self.last_tick[schedule])

    def next_deadline(self) -> float | None:
        """When `flush` has something to log."""
        return min((self.quiet_until[s] for s in self.pending), default=None)
