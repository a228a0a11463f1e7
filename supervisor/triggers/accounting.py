"""What becomes of each tick on the master's side, and the counts `supervisor status` shows.

Pure: the dispatcher passes in what it knows (the clock, the pool, what is running).
Every tick number ends in exactly one bucket: delivered, failed, or skipped with a
reason; ticks run by hand (`supervisor tick NAME`) are counted apart, as `manual`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from supervisor.triggers.timeline import Tick, Timeline

SKIP_REASONS = ("overlap", "no_free_worker", "late", "paused")


def verdict(tick: Tick | None, now: float, *, paused: bool, overlap: str, running: int,
            idle: bool) -> str | None:
    """None to run the tick now, else the reason it is skipped. `tick` is None for a manual
    run, which a pause does not stop and which cannot be stale; `now` is monotonic.

    A tick is stale once its successor's slot is due: after a stall of the master the
    ticks queued meanwhile are counted late and only the latest slot's tick runs, so
    neither a burst nor a run of `overlap` skips follows a pause.
    """
    if tick is not None:
        if paused:
            return "paused"
        if tick.stale_after is not None and now >= tick.stale_after:
            return "late"
    if overlap == "skip" and running:
        return "overlap"
    if not idle:
        return "no_free_worker"
    return None


@dataclass
class TickStats:
    """Per-schedule accounting the master keeps for `supervisor status`."""

    anchor: float
    delivered: int = 0
    failed: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    manual: dict[str, int] = field(
        default_factory=lambda: {"delivered": 0, "failed": 0, "refused": 0})
    last_tick: float | None = None
    next_due: float | None = None
    next_tick: int = 0
    last_outcome: str | None = None

    @classmethod
    def for_schedule(cls, spec: dict[str, Any], resume: dict[str, Any] | None = None,
                     now: float | None = None) -> TickStats:
        """Counters whose next due time is known before the first tick arrives; the numbering
        stays the saved one until the scheduler's first tick reports what it let go."""
        line = Timeline.from_spec(spec, resume, now)
        return cls(
            anchor=line.anchor,
            next_due=line.due,
            next_tick=line.next_tick - line.passed,
            last_tick=line.last_tick,
        )

    def received(self, tick: Tick, missed_reason: str = "late") -> None:
        """A tick arrived from the scheduler: count the slots it coalesced."""
        self.skipped[missed_reason] += tick.missed
        self.last_tick = tick.scheduled_at
        self.next_due = tick.next_at
        self.next_tick = tick.tick + 1

    def deliver(self, manual: bool = False) -> None:
        self._count("delivered", manual)

    def fail(self, manual: bool = False) -> None:
        self._count("failed", manual)

    def _count(self, outcome: str, manual: bool) -> None:
        if manual:
            self.manual[outcome] += 1
            self.last_outcome = f"manual: {outcome}"
        else:
            setattr(self, outcome, getattr(self, outcome) + 1)
            self.last_outcome = outcome

    def refuse(self, reason: str) -> None:
        """A manual run was asked for and refused (`overlap`, `no_free_worker`)."""
        self.manual["refused"] += 1
        self.last_outcome = f"manual: refused ({reason})"

    def skip(self, reason: str, count: int = 1) -> None:
        if reason not in self.skipped:
            raise ValueError(f"expected a skip reason in {SKIP_REASONS}, got {reason!r}")
        self.skipped[reason] += count
        self.last_outcome = f"skipped: {reason}"

    def resume_state(self) -> dict[str, Any]:
        """What a restarted scheduler needs to continue the numbering."""
        return {"next_tick": self.next_tick, "last_tick": self.last_tick, "anchor": self.anchor}

    def as_dict(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "failed": self.failed,
            "skipped": dict(self.skipped),
            "manual": dict(self.manual),
            "ticks": self.next_tick,
            "lastTick": self.last_tick,
            "nextDue": self.next_due,
            "lastOutcome": self.last_outcome,
        }
