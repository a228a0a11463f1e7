"""Cron across daylight saving time, checked against the calendar rules rather than zoneinfo.

New York since 2007: summer time (UTC-4) from the second Sunday of March at 02:00
standard time to the first Sunday of November at 02:00 summer time; UTC-5 otherwise.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor.triggers.cron import parse_cron

NY = "America/New_York"
SPRING = date(2026, 3, 8)  # second Sunday of March 2026
AUTUMN = date(2026, 11, 1)  # first Sunday of November 2026
SUMMER_STARTS = datetime(2026, 3, 8, 7, tzinfo=UTC)
SUMMER_ENDS = datetime(2026, 11, 1, 6, tzinfo=UTC)


def _zone(name: str) -> str:
    try:
        parse_cron("* * * * * *", name)
    except ValueError:
        pytest.fail(f"no time zone data for {name}: the tzdata dependency is missing")
    return name


def ny_wall_to_utc(day: date, hour: int, minute: int) -> datetime:
    """A New York wall time that exists once, by the rules above."""
    naive = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
    summer = SUMMER_STARTS <= naive + timedelta(hours=5) < SUMMER_ENDS + timedelta(hours=1)
    return naive + timedelta(hours=4 if summer else 5)


def fires(expr: str, dst: str, start: datetime, end: datetime, tz: str = NY) -> list[datetime]:
    cron = parse_cron(expr, _zone(tz), dst)
    out, t = [], start.timestamp() - 1
    while (t := cron.next_after(t)) < end.timestamp():
        out.append(datetime.fromtimestamp(t, UTC))
    return out


YEAR = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def _days() -> list[date]:
    return [date(2026, 1, 1) + timedelta(days=n) for n in range(365)]


@pytest.mark.parametrize("dst", ["shift", "skip"])
def test_daily_0230_over_a_year_in_new_york(dst: str) -> None:
    expected = []
    for day in _days():
        if day == SPRING:
            if dst == "shift":  # 02:30 does not exist: the first instant after the gap
                expected.append(datetime(2026, 3, 8, 7, 0, tzinfo=UTC))  # 03:00 EDT
            continue
        expected.append(ny_wall_to_utc(day, 2, 30))
    assert fires("0 30 2 * * *", dst, *YEAR) == expected


@pytest.mark.parametrize("dst", ["shift", "skip"])
def test_a_repeated_time_of_day_fires_once_at_its_first_occurrence(dst: str) -> None:
    got = fires("0 30 1 * * *", dst, *YEAR)
    autumn = [t for t in got if t.date() == AUTUMN]
    assert autumn == [datetime(2026, 11, 1, 5, 30, tzinfo=UTC)]  # 01:30 EDT, not 01:30 EST
    assert len(got) == 365
    assert got == [ny_wall_to_utc(day, 1, 30) if day != AUTUMN else autumn[0]
                   for day in _days()]


def test_hourly_follows_real_hours_through_both_changes() -> None:
    spring = fires("0 0 * * * *", "shift", datetime(2026, 3, 8, 5, tzinfo=UTC),
                   datetime(2026, 3, 8, 9, tzinfo=UTC))
    assert [t.hour for t in spring] == [5, 6, 7, 8]  # 00, 01, 03, 04 local: 02 never existed
    autumn = fires("0 0 * * * *", "shift", datetime(2026, 11, 1, 3, tzinfo=UTC),
                   datetime(2026, 11, 1, 9, tzinfo=UTC))
    assert [t.hour for t in autumn] == [3, 4, 5, 6, 7, 8]  # 23, 00, 01 EDT, 01 EST, 02, 03


@pytest.mark.parametrize("dst", ["shift", "skip"])
def test_a_wildcard_hour_neither_shifts_nor_skips_the_repeat(dst: str) -> None:
    spring = fires("0 10 * * * *", dst, datetime(2026, 3, 8, 5, tzinfo=UTC),
                   datetime(2026, 3, 8, 9, tzinfo=UTC))
    assert [(t.hour, t.minute) for t in spring] == [(5, 10), (6, 10), (7, 10), (8, 10)]
    autumn = fires("0 10 * * * *", dst, datetime(2026, 11, 1, 4, 30, tzinfo=UTC),
                   datetime(2026, 11, 1, 7, 30, tzinfo=UTC))
    assert [(t.hour, t.minute) for t in autumn] == [(5, 10), (6, 10), (7, 10)]  # 01:10 twice


def test_shift_fires_once_for_every_gap_time_that_matches() -> None:
    # 02:00, 02:15, 02:30, 02:45 all fall in the gap; with 03:00 itself they are one slot.
    got = fires("0 0/15 2-3 * * *", "shift", datetime(2026, 3, 8, 6, tzinfo=UTC),
                datetime(2026, 3, 8, 8, tzinfo=UTC))
    assert [(t.hour, t.minute) for t in got] == [(7, 0), (7, 15), (7, 30), (7, 45)]


def test_europe_berlin_daily_0230_across_both_changes() -> None:
    got = fires("0 30 2 * * *", "shift", datetime(2026, 3, 27, tzinfo=UTC),
                datetime(2026, 3, 31, tzinfo=UTC), "Europe/Berlin")
    assert [t.strftime("%m-%d %H:%M") for t in got] == [
        "03-27 01:30", "03-28 01:30", "03-29 01:00", "03-30 00:30"]
    got = fires("0 30 2 * * *", "shift", datetime(2026, 10, 23, tzinfo=UTC),
                datetime(2026, 10, 27, tzinfo=UTC), "Europe/Berlin")
    assert [t.strftime("%m-%d %H:%M") for t in got] == [
        "10-23 00:30", "10-24 00:30", "10-25 00:30", "10-26 01:30"]


def test_dst_policy_is_checked() -> None:
    with pytest.raises(ValueError, match="expected dst to be one of shift, skip"):
        parse_cron("0 30 2 * * *", "UTC", "later")


# --- against a brute-force scan around the transitions -------------------------

_minutes = st.one_of(st.just("*"), st.integers(1, 30).map(lambda n: f"*/{n}"),
                     st.lists(st.integers(0, 59), min_size=1, max_size=3)
                     .map(lambda v: ",".join(map(str, v))))


def _expected_fire(cron, t: int) -> bool:
    """Whether minute instant `t` is a slot, by the rules in `supervisor.triggers.cron`."""
    def wall(x: int) -> datetime:
        return datetime.fromtimestamp(x, cron.tz).replace(tzinfo=None)

    def matches(w: datetime) -> bool:
        return w.second == 0 and w.minute in cron.minutes and w.hour in cron.hours

    here, before = wall(t), wall(t - 60)
    if matches(here) and (cron.hour_star or wall(t - 3600) != here):
        return True
    gap = (here - before).total_seconds() - 60
    if gap > 0 and not cron.hour_star and cron.dst == "shift":
        skipped = (before + timedelta(minutes=k) for k in range(1, int(gap // 60) + 1))
        return any(matches(w) for w in skipped)
    return False


@settings(max_examples=80, deadline=None)
@given(minutes=_minutes, hours=st.sampled_from(["*", "1", "2", "1-3", "*/2", "0,2,4"]),
       transition=st.sampled_from([SUMMER_STARTS, SUMMER_ENDS]),
       offset=st.integers(-30 * 3600, 6 * 3600), dst=st.sampled_from(["shift", "skip"]))
def test_next_after_matches_a_minute_scan_around_dst(minutes: str, hours: str,
                                                     transition: datetime, offset: int,
                                                     dst: str) -> None:
    cron = parse_cron(f"0 {minutes} {hours} * * *", _zone(NY), dst)
    start = int(transition.timestamp()) + offset
    found = int(cron.next_after(start))
    assert found > start and _expected_fire(cron, found)
    t = math.floor(start / 60) * 60 + 60
    while t < found:
        assert not _expected_fire(cron, t), datetime.fromtimestamp(t, UTC)
        t += 60


# --- counting passed slots -------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(expr=st.sampled_from(["* * * * * *", "*/7 * * * * *", "0 */5 * * * *",
                             "0 30 2 * * *", "15 0 1-3 * * *", "0 0 * * * 1-5",
                             "30 10 2 * * *", "0 0 0 1 * *"]),
       zone=st.sampled_from(["UTC", NY, "Europe/Berlin"]), dst=st.sampled_from(["shift", "skip"]),
       start=st.integers(int(SUMMER_ENDS.timestamp()) - 86400,
                         int(SUMMER_ENDS.timestamp()) + 3600),
       span=st.integers(0, 30 * 3600))
def test_latest_counts_what_stepping_would(expr: str, zone: str, dst: str, start: int,
                                           span: int) -> None:
    cron = parse_cron(expr, _zone(zone), dst)
    first = cron.at_or_after(start)
    until = first + span
    slot, passed = first, 0
    while (following := cron.next_after(slot)) <= until:
        slot, passed = following, passed + 1
    assert cron.latest(first, until) == (slot, passed)


def test_latest_is_quick_over_a_month_of_seconds() -> None:
    cron = parse_cron("* * * * * *", _zone("Europe/Berlin"))
    first = datetime(2026, 10, 1, tzinfo=UTC).timestamp()
    until = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    assert cron.latest(first, until) == (until, int(until - first))
