"""Stall accounting, simulated on a fake clock: the real Timeline emits, the real verdict
and TickStats account, and an oracle derived from the slot times says what must happen.

A slot k is run iff the scheduler emits it (at the first moment at or after its time that
the scheduler is running) and the master reads it (at the first moment after that that the
master is running) before slot k+1 is due. Every other number is counted `late`, and
`overlap` only when a run was really still going.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor.triggers.accounting import TickStats, verdict
from supervisor.triggers.timeline import Tick, Timeline

Window = tuple[float, float]


def _inside(t: float, window: Window) -> bool:
    return window[0] <= t < window[1]


def _after_stall(t: float, window: Window) -> float:
    return window[1] if _inside(t, window) else t


def simulate(interval: float, scheduler: Window, master: Window, horizon: float,
             run_for: float, overlap: str = "skip") -> tuple[TickStats, dict[int, float]]:
    """Scheduler and master as the processes behave, each frozen during its window."""
    line = Timeline.from_spec({"name": "t", "every": interval, "anchor": 0.0})
    stats = TickStats(anchor=0.0)
    arrivals: list[tuple[float, Tick]] = []
    while (wake := _after_stall(line.due, scheduler)) <= horizon:
        tick = line.take(wake)
        arrivals.append((_after_stall(wake, master),
                         dataclasses.replace(tick, stale_after=tick.next_at)))
    runs: dict[int, float] = {}
    for now, tick in arrivals:
        stats.received(tick)
        running = sum(1 for began in runs.values() if began <= now < began + run_for)
        reason = verdict(tick, now, paused=False, overlap=overlap, running=running, idle=True)
        if reason is None:
            stats.deliver()
            runs[tick.tick] = now
        else:
            stats.skip(reason)
    return stats, runs


def oracle(interval: float, scheduler: Window, master: Window, horizon: float,
           run_for: float) -> tuple[dict[int, float], int]:
    """Which slots run, and when, from the slot times alone; and how many found the
    previous run still going."""
    runs: dict[int, float] = {}
    overlaps = 0
    last_run: float | None = None
    k = 0
    while (slot := k * interval) <= horizon:
        emitted = _after_stall(slot, scheduler)
        read = _after_stall(emitted, master)
        if emitted <= horizon and read < (k + 1) * interval:
            if last_run is None or read >= last_run + run_for:
                runs[k] = read
                last_run = read
            else:
                overlaps += 1
        k += 1
    return runs, overlaps


intervals = st.sampled_from([0.01, 0.2, 1.0, 7.5])


@settings(max_examples=300, deadline=None)
@given(interval=intervals, who=st.sampled_from(["master", "scheduler", "both", "apart"]),
       start=st.floats(2.0, 6.0), length=st.floats(0.0, 40.0),
       other=st.floats(0.0, 10.0), run_for=st.floats(0.001, 0.5))
def test_whoever_stalls_slots_are_late_and_only_the_latest_runs(
        interval: float, who: str, start: float, length: float, other: float,
        run_for: float) -> None:
    stall = (start * interval, (start + length) * interval)
    offset = (stall[0] + other * interval, stall[1] + other * interval)
    scheduler = stall if who in ("scheduler", "both", "apart") else (0.0, 0.0)
    master = {"master": stall, "both": stall, "apart": offset}.get(who, (0.0, 0.0))
    horizon = max(stall[1], offset[1]) + 5 * interval
    run_for *= interval
    stats, runs = simulate(interval, scheduler, master, horizon, run_for)
    expected, overlaps = oracle(interval, scheduler, master, horizon, run_for)
    assert runs == pytest.approx(expected)
    # Every number is in one bucket; nothing is called overlap that did not overlap.
    assert stats.delivered == len(runs)
    assert stats.delivered + sum(stats.skipped.values()) == stats.next_tick
    assert stats.skipped["overlap"] == overlaps
    assert stats.skipped["late"] == stats.next_tick - len(runs) - overlaps
    # No burst: each run happens inside its own slot's interval.
    for k, began in runs.items():
        assert k * interval <= began < (k + 1) * interval


@pytest.mark.parametrize("who", ["master", "scheduler", "both"])
def test_five_intervals_stalled_count_late_and_run_the_latest_slot(who: str) -> None:
    interval, stall = 0.2, (1.05, 2.05)  # five slots (1.2 ... 2.0) fall inside
    scheduler = stall if who != "master" else (0.0, 0.0)
    master = stall if who != "scheduler" else (0.0, 0.0)
    stats, runs = simulate(interval, scheduler, master, 3.0, 0.01)
    assert stats.skipped == {"overlap": 0, "no_free_worker": 0, "late": 4, "paused": 0}
    assert runs[10] == pytest.approx(2.05)  # slot 2.0, the latest, at once
    assert sorted(runs) == [0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15]


def test_overlap_allow_does_not_run_stale_ticks_together() -> None:
    stats, runs = simulate(1.0, (0.0, 0.0), (2.5, 12.5), 14.0, 5.0, overlap="allow")
    assert sorted(runs) == [0, 1, 2, 12, 13, 14]
    assert stats.skipped["late"] == 9


def _tick(stale_after: float | None = 10.0) -> Tick:
    return Tick("t", 3, 1.0, 0.0, 0, 2.0, stale_after)


@pytest.mark.parametrize(("tick", "now", "state", "expected"), [
    (_tick(), 9.9, {}, None),
    (_tick(), 10.0, {}, "late"),
    (_tick(None), 99.0, {}, None),
    (_tick(), 1.0, {"paused": True}, "paused"),
    (_tick(), 11.0, {"paused": True}, "paused"),
    (_tick(), 1.0, {"running": 1}, "overlap"),
    (_tick(), 1.0, {"running": 1, "overlap": "allow"}, None),
    (_tick(), 1.0, {"running": 1, "overlap": "allow", "idle": False}, "no_free_worker"),
    (None, 50.0, {"paused": True}, None),  # run by hand: a pause does not stop it
    (None, 50.0, {"running": 1}, "overlap"),
    (None, 50.0, {"idle": False}, "no_free_worker"),
])
def test_verdict(tick: Tick | None, now: float, state: dict, expected: str | None) -> None:
    given_state = {"paused": False, "overlap": "skip", "running": 0, "idle": True, **state}
    assert verdict(tick, now, **given_state) == expected


def test_manual_runs_are_counted_apart() -> None:
    stats = TickStats(anchor=0.0)
    stats.deliver(manual=True)
    stats.fail(manual=True)
    assert (stats.delivered, stats.failed, stats.manual) == (0, 0, {"delivered": 1, "failed": 1,
                                                                 "refused": 0})
    assert stats.last_outcome == "manual: failed"
