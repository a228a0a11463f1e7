"""When ticks are due, how they are numbered, and how they are counted.

Pure logic shared by the scheduler process (which emits ticks) and the master
(which dispatches and accounts for them); nothing here reads a clock.

Numbering: a tick's number is its slot index since the schedule's anchor. For
`every`, slot k falls at `anchor + k * interval`; for `cron`, slot 0 is the first
matching second at or after the anchor. When the scheduler wakes after more
than one slot has passed, it emits one tick for the latest passed slot and
reports the others as `missed` (skipped, reason `late`), so every number is
either emitted or counted and none is ever sent twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from supervisor.triggers.cron import Cron, parse_cron

__all__ = [
    "SKIP_REASONS",
    "Cron",
    "CronKind",
    "Every",
    "Kind",
    "Tick",
    "TickStats",
    "Timeline",
    "make_kind",
    "parse_cron",
]

SKIP_REASONS = ("overlap", "no_free_worker", "late")


class Kind(Protocol):
    """What the scheduler needs from a schedule, whatever its kind."""

    def due_at(self, anchor: float, next_tick: int, last_tick: float | None) -> float:
        """Time of slot `next_tick`, given the previous emitted slot's time if any."""
        ...

    def after(self, t: float, anchor: float) -> float:
        """Time of the first slot strictly after `t`."""
        ...

    def catch_up(self, due: float, now: float, anchor: float) -> tuple[float, int]:
        """For a due slot at or before `now`: the latest slot <= now and how many
        slots (starting with `due`) it passes over."""
        ...


@dataclass(frozen=True)
class Every:
    """Fixed interval on `anchor + k * interval`, computed rather than accumulated."""

    interval: float

    def __post_init__(self) -> None:
        if not (isinstance(self.interval, int | float) and math.isfinite(self.interval)):
            raise ValueError(f"expected an interval in seconds, got {self.interval!r}")
        if self.interval < 0.001:
            raise ValueError(f"expected an interval of at least 1ms, got {self.interval!r}")

    def index(self, t: float, anchor: float) -> int:
        """The last slot at or before `t` (-1 before the anchor).

        Checked against the slot times themselves: near 1.8e9 a float's step is
        2e-7 s, so the plain quotient can land just below a whole k.
        """
        k = max(-1, math.floor((t - anchor) / self.interval))
        while k >= 0 and self.slot(k, anchor) > t:
            k -= 1
        while self.slot(k + 1, anchor) <= t:
            k += 1
        return k

    def slot(self, k: int, anchor: float) -> float:
        return anchor + k * self.interval

    def due_at(self, anchor: float, next_tick: int, last_tick: float | None) -> float:
        return self.slot(next_tick, anchor)

    def after(self, t: float, anchor: float) -> float:
        return self.slot(self.index(t, anchor) + 1, anchor)

    def catch_up(self, due: float, now: float, anchor: float) -> tuple[float, int]:
        first = round((due - anchor) / self.interval)
        latest = max(first, self.index(now, anchor))
        return self.slot(latest, anchor), latest - first


@dataclass(frozen=True)
class CronKind:
    """Adapts a Cron to the Kind interface; slot 0 is the first match at or after the anchor."""

    cron: Cron

    def due_at(self, anchor: float, next_tick: int, last_tick: float | None) -> float:
        if last_tick is not None:
            return self.cron.next_after(last_tick)
        due = self.cron.at_or_after(anchor)
        for _ in range(next_tick):
            due = self.cron.next_after(due)
        return due

    def after(self, t: float, anchor: float) -> float:
        return self.cron.at_or_after(anchor) if t < anchor else self.cron.next_after(t)

    def catch_up(self, due: float, now: float, anchor: float) -> tuple[float, int]:
        passed = 0
        while (following := self.cron.next_after(due)) <= now:
            due, passed = following, passed + 1
        return due, passed


def make_kind(spec: dict[str, Any]) -> Every | CronKind:
    """The kind named by a schedule dict: exactly one of `every` (seconds) or `cron`."""
    every, cron = spec.get("every"), spec.get("cron")
    if (every is None) == (cron is None):
        raise ValueError("expected exactly one of 'every' or 'cron'")
    if every is not None:
        if isinstance(every, bool):
            raise ValueError(f"expected an interval in seconds, got {every!r}")
        return Every(every)
    return CronKind(parse_cron(cron, spec.get("tz")))


@dataclass(frozen=True)
class Tick:
    """One emitted tick, as the scheduler sends it and the master reads it."""

    schedule: str
    tick: int
    scheduled_at: float
    last_tick: float | None
    missed: int
    next_at: float | None = None
    cluster: dict[str, Any] | None = None

    def to_wire(self) -> dict[str, Any]:
        wire = {
            "schedule": self.schedule,
            "tick": self.tick,
            "scheduledAt": self.scheduled_at,
            "lastTick": self.last_tick,
            "missed": self.missed,
            "nextAt": self.next_at,
        }
        if self.cluster is not None:
            wire["cluster"] = self.cluster
        return wire

    @classmethod
    def from_wire(cls, data: object) -> Tick:
        """Validate a decoded message; raise ValueError rather than trust the socket."""
        if not isinstance(data, dict):
            raise ValueError("tick message: expected a JSON object")
        try:
            tick = cls(
                schedule=_typed(data["schedule"], str),
                tick=_typed(data["tick"], int),
                scheduled_at=float(_typed(data["scheduledAt"], int | float)),
                last_tick=_optional_float(data.get("lastTick")),
                missed=_typed(data.get("missed", 0), int),
                next_at=_optional_float(data.get("nextAt")),
                cluster=_cluster(data.get("cluster")),
            )
        except KeyError as exc:
            raise ValueError(f"tick message: missing {exc.args[0]!r}") from None
        if tick.tick < 0 or tick.missed < 0 or tick.missed > tick.tick:
            raise ValueError("tick message: expected 0 <= missed <= tick")
        return tick


def _typed(value: Any, kind: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ValueError(f"tick message: unexpected value {value!r}")
    return value


def _cluster(value: Any) -> dict[str, Any] | None:
    """A singleton tick's fence: `{"epoch": int|None, "node": str, "slot": int[, "degraded"]}`."""
    if value is None:
        return None
    if not isinstance(value, dict) or not set(value) <= {"epoch", "node", "slot", "degraded"}:
        raise ValueError(f"tick message: unexpected cluster {value!r:.200}")
    epoch = value.get("epoch")
    if epoch is not None:
        _typed(epoch, int)
    _typed(value.get("node"), str)
    _typed(value.get("slot"), int)
    if not isinstance(value.get("degraded", False), bool):
        raise ValueError("tick message: cluster.degraded must be true or false")
    return dict(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(_typed(value, int | float))


class Timeline:
    """One schedule's position: the next tick number and when it is due."""

    def __init__(
        self,
        name: str,
        kind: Every | CronKind,
        anchor: float,
        next_tick: int = 0,
        last_tick: float | None = None,
    ) -> None:
        if next_tick < 0:
            raise ValueError(f"expected next_tick >= 0, got {next_tick!r}")
        self.name = name
        self.kind = kind
        self.anchor = float(anchor)
        self.next_tick = next_tick
        self.last_tick = last_tick
        self.due = kind.due_at(self.anchor, next_tick, last_tick)

    @classmethod
    def from_spec(cls, spec: dict[str, Any], resume: dict[str, Any] | None = None) -> Timeline:
        """Build from the master's schedule dict, continuing from `resume` when given."""
        state = resume or {}
        return cls(
            spec["name"],
            make_kind(spec),
            state.get("anchor", spec["anchor"]),
            int(state.get("next_tick", 0)),
            state.get("last_tick"),
        )

    def poll(self, now: float) -> Tick | None:
        """The tick to emit at `now`, coalescing passed slots; does not advance."""
        if now < self.due:
            return None
        scheduled_at, missed = self.kind.catch_up(self.due, now, self.anchor)
        return Tick(
            schedule=self.name,
            tick=self.next_tick + missed,
            scheduled_at=scheduled_at,
            last_tick=self.last_tick,
            missed=missed,
            next_at=self.kind.after(scheduled_at, self.anchor),
        )

    def commit(self, tick: Tick) -> None:
        """Advance past `tick` once it has really been handed on."""
        self.next_tick = tick.tick + 1
        self.last_tick = tick.scheduled_at
        self.due = self.kind.after(tick.scheduled_at, self.anchor)

    def take(self, now: float) -> Tick | None:
        tick = self.poll(now)
        if tick is not None:
            self.commit(tick)
        return tick

    def resume_state(self) -> dict[str, Any]:
        return {"next_tick": self.next_tick, "last_tick": self.last_tick, "anchor": self.anchor}


@dataclass
class TickStats:
    """Per-schedule accounting the master keeps for `supervisor status`.

    Every tick number ends up in exactly one bucket: delivered, failed, or
    skipped with a reason (ticks still in flight excepted).
    """

    anchor: float
    delivered: int = 0
    failed: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    last_tick: float | None = None
    next_due: float | None = None
    next_tick: int = 0

    @classmethod
    def for_schedule(cls, spec: dict[str, Any], resume: dict[str, Any] | None = None) -> TickStats:
        """Fresh counters whose next due time is known before the first tick arrives."""
        line = Timeline.from_spec(spec, resume)
        return cls(
            anchor=line.anchor,
            next_due=line.due,
            next_tick=line.next_tick,
            last_tick=line.last_tick,
        )

    def received(self, tick: Tick) -> None:
        """A tick arrived from the scheduler: count the slots it coalesced as late."""
        self.skipped["late"] += tick.missed
        self.last_tick = tick.scheduled_at
        self.next_due = tick.next_at
        self.next_tick = tick.tick + 1

    def deliver(self) -> None:
        self.delivered += 1

    def fail(self) -> None:
        self.failed += 1

    def skip(self, reason: str, count: int = 1) -> None:
        if reason not in self.skipped:
            raise ValueError(f"expected a skip reason in {SKIP_REASONS}, got {reason!r}")
        self.skipped[reason] += count

    def resume_state(self) -> dict[str, Any]:
        """What a restarted scheduler needs to continue the numbering."""
        return {"next_tick": self.next_tick, "last_tick": self.last_tick, "anchor": self.anchor}

    def as_dict(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "failed": self.failed,
            "skipped": dict(self.skipped),
            "ticks": self.next_tick,
            "lastTick": self.last_tick,
            "nextDue": self.next_due,
        }
