"""Schedule logic: cron parsing and due times, every, coalescing, resume, stats."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor.triggers.accounting import TickStats
from supervisor.triggers.timeline import (
    Every,
    Tick,
    Timeline,
    make_kind,
    parse_cron,
)


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def as_utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


# --- cron parsing -------------------------------------------------------------


def test_parse_fields_steps_ranges_lists() -> None:
    cron = parse_cron("*/30 0-10/5,30 9-17 1,15 * *")
    assert cron.seconds == (0, 30)
    assert cron.minutes == (0, 5, 10, 30)
    assert cron.hours == tuple(range(9, 18))
    assert cron.days == (1, 15)
    assert cron.months == tuple(range(1, 13))
    assert cron.weekdays == tuple(range(7))


def test_parse_names_and_sunday_seven() -> None:
    cron = parse_cron("0 0 12 * jan-MAR,Dec MON-fri")
    assert cron.months == (1, 2, 3, 12)
    assert cron.weekdays == (1, 2, 3, 4, 5)
    assert parse_cron("0 0 0 * * 7").weekdays == (0,)
    assert parse_cron("0 0 0 * * 5-7").weekdays == (0, 5, 6)


def test_single_value_with_step_runs_to_the_end() -> None:
    assert parse_cron("10/20 * * * * *").seconds == (10, 30, 50)


def test_macros() -> None:
    assert parse_cron("@hourly").minutes == (0,)
    assert parse_cron("@daily").hours == (0,)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("61 * * * * *", "second field: expected 0-59"),
        ("* * * * *", "expected 6 cron fields"),
        ("* * * * * * *", "expected 6 cron fields"),
        ("", "expected 6 cron fields"),
        ("junk * * * * *", "second field: expected 0-59"),
        ("* 60 * * * *", "minute field: expected 0-59"),
        ("* * 24 * * *", "hour field: expected 0-23"),
        ("* * * 0 * *", "day-of-month field: expected 1-31"),
        ("* * * * 13 *", "month field: expected 1-12 or a name"),
        ("* * * * * 8", "day-of-week field: expected 0-7 or a name"),
        ("*/0 * * * * *", "expected a step >= 1"),
        ("*/x * * * * *", "expected a step >= 1"),
        ("5-1 * * * * *", "expected a range low-high"),
        ("-1 * * * * *", "second field"),
        ("1,,2 * * * * *", "second field"),
        ("0 0 0 31 2 *", "day-of-month that exists"),
    ],
)
def test_invalid_expressions_say_what_was_expected(expr: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        parse_cron(expr)


def test_invalid_zone_and_non_string() -> None:
    with pytest.raises(ValueError, match="time zone"):
        parse_cron("* * * * * *", "Mars/Olympus")
    with pytest.raises(ValueError, match="cron expression"):
        parse_cron(5)  # type: ignore[arg-type]


def test_february_31_is_accepted_when_weekday_may_match() -> None:
    # Both day fields restricted: either matches, so Mondays in February fire.
    cron = parse_cron("0 0 0 31 2 MON", "UTC")
    assert as_utc(cron.next_after(utc(2026, 1, 1))) == datetime(2026, 2, 2, tzinfo=UTC)


# --- cron due times -----------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "start", "expected"),
    [
        ("0 * * * * *", (2026, 5, 4, 12, 0, 59), (2026, 5, 4, 12, 1, 0)),
        ("0 0 * * * *", (2026, 5, 4, 12, 59, 59), (2026, 5, 4, 13, 0, 0)),
        ("0 0 0 * * *", (2026, 5, 4, 23, 59, 59), (2026, 5, 5, 0, 0, 0)),
        ("0 0 0 1 * *", (2026, 1, 31, 23, 59, 59), (2026, 2, 1, 0, 0, 0)),
        ("0 0 0 1 1 *", (2026, 12, 31, 23, 59, 59), (2027, 1, 1, 0, 0, 0)),
        ("0 0 0 31 * *", (2026, 4, 1, 0, 0, 0), (2026, 5, 31, 0, 0, 0)),
        ("0 0 0 29 2 *", (2026, 3, 1, 0, 0, 0), (2028, 2, 29, 0, 0, 0)),
        ("30 15 10 * * *", (2026, 5, 4, 10, 15, 30), (2026, 5, 5, 10, 15, 30)),
        ("0 0 0 * * MON", (2026, 5, 4, 0, 0, 0), (2026, 5, 11, 0, 0, 0)),
        ("0 0 0 13 * FRI", (2026, 5, 9, 0, 0, 0), (2026, 5, 13, 0, 0, 0)),
        ("0 0 0 13 * FRI", (2026, 5, 13, 0, 0, 0), (2026, 5, 15, 0, 0, 0)),
        ("0 0 0 */2 * MON", (2026, 5, 4, 0, 0, 0), (2026, 5, 11, 0, 0, 0)),
        ("0 0 0 29 2 MON", (2026, 2, 23, 0, 0, 0), (2027, 2, 1, 0, 0, 0)),
        ("0 0 0 29 2 */7", (2021, 1, 1, 0, 0, 0), (2032, 2, 29, 0, 0, 0)),
    ],
)
def test_next_after_crosses_boundaries(
    expr: str, start: tuple[int, ...], expected: tuple[int, ...]
) -> None:
    assert as_utc(parse_cron(expr, "UTC").next_after(utc(*start))) == datetime(
        *expected, tzinfo=UTC
    )


def test_next_after_is_strict_and_whole_seconds() -> None:
    cron = parse_cron("* * * * * *", "UTC")
    assert cron.next_after(100.0) == 101.0
    assert cron.next_after(100.5) == 101.0
    assert cron.at_or_after(100.0) == 100.0
    assert cron.at_or_after(100.5) == 101.0


def test_every_other_second_fires_only_on_even_seconds() -> None:
    cron = parse_cron("*/2 * * * * *")
    t = 1_795_000_000.37
    fired = []
    for _ in range(200):
        t = cron.next_after(t)
        fired.append(t)
    assert all(t == int(t) and int(t) % 2 == 0 for t in fired)
    assert {b - a for a, b in itertools.pairwise(fired)} == {2.0}


def test_local_time_is_the_default() -> None:
    local = parse_cron("0 0 3 * * *")
    t = local.next_after(1_795_000_000)
    assert datetime.fromtimestamp(t).timetuple()[3:6] == (3, 0, 0)


def _matches(cron, t: float) -> bool:
    d = as_utc(t)
    dom, dow = d.day in cron.days, (d.weekday() + 1) % 7 in cron.weekdays
    day = (dom and dow) if (cron.dom_star or cron.dow_star) else (dom or dow)
    return (
        d.second in cron.seconds
        and d.minute in cron.minutes
        and d.hour in cron.hours
        and d.month in cron.months
        and day
    )


_field = st.one_of(
    st.just("*"),
    st.integers(1, 20).map(lambda n: f"*/{n}"),
    st.lists(st.integers(0, 23), min_size=1, max_size=3).map(lambda v: ",".join(map(str, v))),
    st.tuples(st.integers(0, 12), st.integers(12, 23)).map(lambda r: f"{r[0]}-{r[1]}"),
)
_moments = st.floats(1.6e9, 2.2e9, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(minutes=_field, hours=_field, start=_moments)
def test_next_after_matches_a_brute_force_minute_scan(
    minutes: str, hours: str, start: float
) -> None:
    cron = parse_cron(f"0 {minutes} {hours} * * *", "UTC")
    found = cron.next_after(start)
    assert found > start and _matches(cron, found)
    t = math.floor(start / 60) * 60 + 60.0
    while t < found:
        assert not _matches(cron, t)
        t += 60


@settings(max_examples=60, deadline=None)
@given(
    days=st.sampled_from(["*", "1", "*/10", "13", "29-31", "15,31"]),
    months=st.sampled_from(["*", "2", "1-6", "*/5", "FEB,AUG"]),
    weekdays=st.sampled_from(["*", "0", "MON-FRI", "*/3", "FRI"]),
    start=_moments,
)
def test_day_rules_match_a_brute_force_day_scan(
    days: str, months: str, weekdays: str, start: float
) -> None:
    cron = parse_cron(f"0 0 0 {days} {months} {weekdays}", "UTC")
    found = cron.next_after(start)
    assert found > start and _matches(cron, found)
    day = as_utc(start).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    while day.timestamp() < found:
        assert not _matches(cron, day.timestamp())
        day += timedelta(days=1)


# --- every --------------------------------------------------------------------


def test_every_slots_are_computed_not_accumulated() -> None:
    every, anchor = Every(0.1), 1_795_000_000.123
    for k in range(0, 50_000, 7):
        slot = every.slot(k, anchor)
        assert every.index(slot, anchor) == k
        assert every.after(slot, anchor) == every.slot(k + 1, anchor)
    assert every.slot(36_000, anchor) - anchor == pytest.approx(3600.0, abs=1e-6)
    assert every.after(anchor - 5, anchor) == anchor


@pytest.mark.parametrize("bad", [0, -1, 0.0001, math.nan, math.inf, "1s"])
def test_every_rejects_bad_intervals(bad: object) -> None:
    with pytest.raises(ValueError, match="interval"):
        Every(bad)  # type: ignore[arg-type]


def test_make_kind_needs_exactly_one_of_every_or_cron() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        make_kind({"name": "x", "every": 1.0, "cron": "* * * * * *"})
    with pytest.raises(ValueError, match="exactly one"):
        make_kind({"name": "x"})
    with pytest.raises(ValueError, match="interval"):
        make_kind({"every": True})
    with pytest.raises(ValueError, match="6 cron fields"):
        make_kind({"cron": "* * * * *"})


# --- timeline: numbering, coalescing, resume ------------------------------------

ANCHOR = 1_795_000_000.25


def every_spec(interval: float = 0.1) -> dict:
    return {"name": "t", "every": interval, "cron": None, "anchor": ANCHOR}


def test_first_ticks_number_from_zero_and_chain_last_tick() -> None:
    line = Timeline.from_spec(every_spec())
    assert line.due == ANCHOR
    assert line.poll(ANCHOR - 0.001) is None
    first = line.take(ANCHOR + 0.003)
    assert first == Tick("t", 0, ANCHOR, None, 0, ANCHOR + 0.1)
    second = line.take(ANCHOR + 0.1999)
    assert (second.tick, second.last_tick, second.missed) == (1, ANCHOR, 0)
    assert second.scheduled_at == pytest.approx(ANCHOR + 0.1, abs=1e-6)
    assert line.take(ANCHOR + 0.1999) is None


def test_poll_does_not_advance_until_commit() -> None:
    line = Timeline.from_spec(every_spec())
    assert line.poll(ANCHOR + 0.05) == line.poll(ANCHOR + 0.05)
    line.commit(line.poll(ANCHOR + 0.05))
    assert line.next_tick == 1


def test_stall_coalesces_into_one_tick_with_the_missed_count() -> None:
    line = Timeline.from_spec(every_spec())
    line.take(ANCHOR)
    tick = line.take(ANCHOR + 1.05)  # slots 1..10 passed while stalled
    assert (tick.tick, tick.missed, tick.last_tick) == (10, 9, ANCHOR)
    assert tick.scheduled_at == pytest.approx(ANCHOR + 1.0, abs=1e-6)
    assert line.take(ANCHOR + 1.05) is None  # no burst
    assert line.due == pytest.approx(ANCHOR + 1.1, abs=1e-6)


def test_cron_stall_coalesces_too() -> None:
    spec = {"name": "c", "every": None, "cron": "*/10 * * * * *", "tz": "UTC", "anchor": 1000.5}
    line = Timeline.from_spec(spec)
    assert line.due == 1010.0
    assert line.take(1010.2).tick == 0
    tick = line.take(1065.0)
    assert (tick.tick, tick.missed, tick.scheduled_at, tick.last_tick) == (5, 4, 1060.0, 1010.0)
    assert tick.next_at == line.due == 1070.0


def test_resume_continues_numbering_and_reports_the_gap() -> None:
    line = Timeline.from_spec(every_spec())
    emitted = [line.take(ANCHOR + k * 0.1 + 0.001) for k in range(5)]
    state = line.resume_state()
    assert state == {"next_tick": 5, "last_tick": emitted[-1].scheduled_at, "anchor": ANCHOR}
    again = Timeline.from_spec(every_spec(), state)
    assert again.poll(ANCHOR + 0.45) is None
    tick = again.take(ANCHOR + 0.73)  # slots 5, 6 passed while nothing ran
    assert (tick.tick, tick.missed, tick.last_tick) == (7, 2, emitted[-1].scheduled_at)


def test_resume_right_on_time_misses_nothing() -> None:
    state = {"next_tick": 3, "last_tick": ANCHOR + 0.2, "anchor": ANCHOR}
    tick = Timeline.from_spec(every_spec(), state).take(ANCHOR + 0.31)
    assert (tick.tick, tick.missed) == (3, 0)


def test_catch_up_none_lets_passed_slots_go_and_counts_them() -> None:
    state = {"next_tick": 5, "last_tick": ANCHOR + 0.4, "anchor": ANCHOR}
    spec = {**every_spec(), "catch_up": "none"}
    line = Timeline.from_spec(spec, state, now=ANCHOR + 0.93)  # slots 5..9 passed
    assert line.poll(ANCHOR + 0.95) is None
    tick = line.take(ANCHOR + 1.0)
    assert (tick.tick, tick.missed, tick.last_tick) == (10, 5, ANCHOR + 0.4)
    assert line.take(ANCHOR + 1.1).missed == 0
    stats = TickStats.for_schedule(spec, state, now=ANCHOR + 0.93)
    assert (stats.next_tick, stats.next_due) == (5, ANCHOR + 1.0)


def test_catch_up_latest_fires_the_latest_passed_slot_at_once() -> None:
    state = {"next_tick": 5, "last_tick": ANCHOR + 0.4, "anchor": ANCHOR}
    spec = {**every_spec(), "catch_up": "latest"}
    tick = Timeline.from_spec(spec, state, now=ANCHOR + 0.93).take(ANCHOR + 0.93)
    assert (tick.tick, tick.missed, tick.scheduled_at) == (9, 4, pytest.approx(ANCHOR + 0.9))


def test_cron_catch_up_none_after_a_day_down() -> None:
    spec = {"name": "c", "cron": "0 30 2 * * *", "tz": "Europe/Berlin", "catch_up": "none",
            "anchor": utc(2026, 3, 1)}
    last = utc(2026, 3, 27, 1, 30)  # 02:30 CET
    line = Timeline.from_spec(spec, {"next_tick": 26, "last_tick": last}, now=utc(2026, 3, 30))
    tick = line.take(utc(2026, 3, 31))
    # 28th 01:30Z, 29th 01:00Z (shifted past the gap) were let go, 30th 00:30Z fires.
    assert (tick.tick, tick.missed, tick.scheduled_at) == (28, 2, utc(2026, 3, 30, 0, 30))


def test_catch_up_is_checked() -> None:
    with pytest.raises(ValueError, match="expected catch_up to be one of latest, none"):
        Timeline.from_spec({**every_spec(), "catch_up": "all"})


def test_cron_resume_uses_the_last_tick_time() -> None:
    spec = {"name": "c", "every": None, "cron": "*/10 * * * * *", "tz": "UTC", "anchor": 1000.0}
    state = {"next_tick": 4, "last_tick": 1030.0, "anchor": 1000.0}
    line = Timeline.from_spec(spec, state)
    assert line.due == 1040.0
    tick = line.take(1051.0)
    assert (tick.tick, tick.missed, tick.last_tick) == (5, 1, 1030.0)
    # Without a last tick time the slots are counted from the anchor.
    assert Timeline.from_spec(spec, {"next_tick": 2, "last_tick": None}).due == 1020.0


@settings(max_examples=100, deadline=None)
@given(
    interval=st.sampled_from([0.001, 0.1, 0.25, 1.0, 7.0]),
    wakes=st.lists(st.floats(0.0, 30.0, allow_nan=False), min_size=1, max_size=40),
    restart_at=st.integers(0, 40),
)
def test_every_number_is_emitted_once_or_counted_missed(
    interval: float, wakes: list[float], restart_at: int
) -> None:
    spec = every_spec(interval)
    line = Timeline.from_spec(spec)
    emitted: list[Tick] = []
    for i, offset in enumerate(sorted(wakes)):
        if i == restart_at:
            line = Timeline.from_spec(spec, line.resume_state())
        now = ANCHOR + offset
        tick = line.take(now)
        if tick is not None:
            emitted.append(tick)
            assert tick.scheduled_at <= now < tick.next_at
    numbers = [t.tick for t in emitted]
    assert numbers == sorted(set(numbers))
    if emitted:
        assert len(emitted) + sum(t.missed for t in emitted) == numbers[-1] + 1
        assert [t.last_tick for t in emitted[1:]] == [t.scheduled_at for t in emitted[:-1]]


# --- wire format ---------------------------------------------------------------


def test_tick_wire_round_trip() -> None:
    tick = Tick("t", 7, 12.5, 12.4, 2, 12.6, 1003.5)
    wire = tick.to_wire()
    assert wire == {
        "schedule": "t",
        "tick": 7,
        "scheduledAt": 12.5,
        "lastTick": 12.4,
        "missed": 2,
        "nextAt": 12.6,
        "staleAfter": 1003.5,
    }
    assert Tick.from_wire(wire) == tick


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"schedule": "t", "tick": 1},
        {"schedule": "t", "tick": True, "scheduledAt": 1.0},
        {"schedule": 3, "tick": 1, "scheduledAt": 1.0},
        {"schedule": "t", "tick": -1, "scheduledAt": 1.0},
        {"schedule": "t", "tick": 1, "scheduledAt": 1.0, "missed": 2},
        {"schedule": "t", "tick": 1, "scheduledAt": "1"},
    ],
)
def test_tick_from_wire_rejects_junk(data: object) -> None:
    with pytest.raises(ValueError, match="tick message"):
        Tick.from_wire(data)


# --- stats ---------------------------------------------------------------------


def test_stats_account_for_every_number() -> None:
    stats = TickStats(anchor=ANCHOR, next_due=ANCHOR)
    stats.received(Tick("t", 0, ANCHOR, None, 0, ANCHOR + 1))
    stats.deliver()
    stats.received(Tick("t", 4, ANCHOR + 4, ANCHOR, 3, ANCHOR + 5))
    stats.skip("overlap")
    stats.received(Tick("t", 5, ANCHOR + 5, ANCHOR + 4, 0, ANCHOR + 6))
    stats.fail()
    stats.received(Tick("t", 6, ANCHOR + 6, ANCHOR + 5, 0, ANCHOR + 7))
    stats.skip("no_free_worker")
    assert stats.as_dict() == {
        "delivered": 1,
        "failed": 1,
        "skipped": {"overlap": 1, "no_free_worker": 1, "late": 3, "paused": 0},
        "manual": {"delivered": 0, "failed": 0, "refused": 0},
        "ticks": 7,
        "lastTick": ANCHOR + 6,
        "nextDue": ANCHOR + 7,
        "lastOutcome": "skipped: no_free_worker",
    }
    assert stats.resume_state() == {"next_tick": 7, "last_tick": ANCHOR + 6, "anchor": ANCHOR}
    with pytest.raises(ValueError, match="skip reason"):
        stats.skip("bored")


def test_fresh_stats_resume_from_the_anchor() -> None:
    stats = TickStats(anchor=ANCHOR)
    line = Timeline.from_spec(every_spec(), stats.resume_state())
    assert (line.next_tick, line.last_tick, line.due) == (0, None, ANCHOR)


def test_stats_for_a_schedule_know_the_first_due_time() -> None:
    stats = TickStats.for_schedule(every_spec())
    assert (stats.next_due, stats.next_tick, stats.last_tick) == (ANCHOR, 0, None)
    resumed = TickStats.for_schedule(every_spec(), {"next_tick": 3, "last_tick": ANCHOR + 0.2})
    assert resumed.next_due == pytest.approx(ANCHOR + 0.3, abs=1e-6)
    assert resumed.resume_state() == {"next_tick": 3, "last_tick": ANCHOR + 0.2, "anchor": ANCHOR}
