"""Six-field cron expressions (seconds first), evaluated on a wall clock.

A slot is a whole unix second whose wall-clock time in the expression's zone
(the machine's local time unless a zone is named) matches all fields. Daylight
saving time is handled as Vixie cron does, by what the hour field says:

- A fixed hour (`0 30 2 * * *`) names a time of day. In a spring-forward gap
  that time does not exist: `dst: shift` (the default) fires at the first
  instant after the gap, `dst: skip` does not fire that day. In a fall-back
  repeat it fires once, at the first occurrence.
- A wildcard hour (`*` or `*/n`: `0 */15 * * * *`) describes a rhythm, which
  follows elapsed time: nothing in a gap is made up, and the repeated hour
  fires again, so an every-15-minutes job has no hour-long hole.
"""

from __future__ import annotations

import calendar
import math
import time
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DST_POLICIES = ("shift", "skip")
FIELDS_HELP = "second minute hour day-of-month month day-of-week"
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MACROS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}
# (name, lowest, highest, names mapped to lowest..)
_SPECS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    ("day-of-week", 0, 7, {name: i for i, name in enumerate(_WEEKDAYS)}),
)
# Far enough for any valid expression: 29 February on a given weekday can be
# 40 years away around a skipped leap year such as 2100.
_SEARCH_YEARS = 60


@dataclass(frozen=True)
class Cron:
    """A parsed expression; values are sorted tuples so lookups can bisect."""

    expr: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...]
    months: tuple[int, ...]
    weekdays: tuple[int, ...]  # 0 = Sunday
    dom_star: bool
    dow_star: bool
    tz: tzinfo | None = None
    dst: str = "shift"
    hour_star: bool = False

    def next_after(self, t: float) -> float:
        """The first slot strictly after unix time `t`, as whole seconds."""
        return float(self._search(math.floor(t) + 1))

    def at_or_after(self, t: float) -> float:
        """The first slot at or after unix time `t`, as whole seconds."""
        return float(self._search(math.ceil(t)))

    def latest(self, first: float, until: float) -> tuple[float, int]:
        """From slot `first` (<= until): the latest slot <= until and how many slots after
        `first` lead to it. Whole days are counted, not walked, so a restart after a long
        outage of a per-second schedule stays quick."""
        slot, passed, until = int(first), 0, math.floor(until)
        while True:
            counted = self._count_rest_of_day(slot, until)
            if counted is not None:
                slot, passed = counted[0], passed + counted[1]
            following = self._search(slot + 1)
            if following > until:
                return float(slot), passed
            slot, passed = following, passed + 1

    # --- searching ---

    def _search(self, second: int) -> int:
        found = self._search_forward(second)
        if self.hour_star:
            # The forward walk assumes the wall clock only moves forward; if it is set
            # back soon after `second`, the repeated wall times fire again.
            horizon = min(found, second + 86400)
            if self._offset(horizon) < self._offset(second):
                repeat = self._change_after(second, horizon)
                if repeat < found:
                    found = min(found, self._search_forward(repeat))
        return found

    def _search_forward(self, second: int) -> int:
        while True:
            match = self._next_wall(self._wall(second))
            if match is None:
                raise ValueError(f"cron {self.expr!r} has no slot after {second}")
            slot, resume = self._resolve(match, second)
            if slot is not None:
                return slot
            second = max(second + 1, resume)

    def _resolve(self, wall: datetime, not_before: int) -> tuple[int | None, int]:
        """The slot for a matching wall time (None if it yields none at or after
        `not_before`) and, when it does not, the second to resume the search from."""
        shown, end = self._instants(wall)
        if not shown:
            if self.dst == "shift" and not self.hour_star and end >= not_before:
                return end, end
            return None, end
        if len(shown) == 2 and not self.hour_star:
            shown = shown[:1]  # a time of day repeated by a fall-back fires once
        slot = min((t for t in shown if t >= not_before), default=None)
        return slot, shown[-1] + 1

    # --- counting whole days ---

    def _count_rest_of_day(self, slot: int, until: int) -> tuple[int, int] | None:
        """The last slot <= until on `slot`'s wall day and how many follow `slot` up to it,
        when that stretch has one UTC offset and repeats no wall time that already fired
        today; else None (the caller steps slot by slot)."""
        wall = self._wall(slot)
        midnight = datetime(wall.year, wall.month, wall.day) + timedelta(days=1)
        cap = min(until, self._first_instant(midnight) - 1)
        offset = self._offset(slot)
        if cap > slot and self._offset(change := self._change_after(slot, cap)) != offset:
            cap = change - 1  # up to the clock change; the caller steps across it
        if cap - slot < 60 or not self._day_matches(wall):
            return None
        day_start = self._first_instant(datetime(wall.year, wall.month, wall.day))
        if not self.hour_star and self._offset(day_start) > offset:
            # Set back earlier today: the wall times up to the old clock fired already.
            change = self._change_after(day_start, slot)
            if wall <= self._wall(change - 1):
                return None
        last = self._last_combo(self._wall(cap))
        if last is None:
            return None
        count = self._rank(last) - self._rank(wall)
        if count <= 0:
            return None
        last_wall = wall.replace(hour=last[0], minute=last[1], second=last[2])
        return slot + int((last_wall - wall).total_seconds()), count

    def _rank(self, wall: datetime | tuple[int, int, int]) -> int:
        """How many (hour, minute, second) matches of a day are at or before `wall`."""
        h, m, s = (wall.hour, wall.minute, wall.second) if isinstance(wall, datetime) else wall
        per_hour = len(self.minutes) * len(self.seconds)
        rank = bisect_left(self.hours, h) * per_hour
        if h in self.hours:
            rank += bisect_left(self.minutes, m) * len(self.seconds)
            if m in self.minutes:
                rank += bisect_right(self.seconds, s)
        return rank

    def _last_combo(self, wall: datetime) -> tuple[int, int, int] | None:
        """The latest matching (hour, minute, second) at or before `wall`'s time of day."""
        h, m, s = wall.hour, wall.minute, wall.second
        if h in self.hours:
            if m in self.minutes and (i := bisect_right(self.seconds, s)):
                return h, m, self.seconds[i - 1]
            if j := bisect_left(self.minutes, m):
                return h, self.minutes[j - 1], self.seconds[-1]
        if k := bisect_left(self.hours, h):
            return self.hours[k - 1], self.minutes[-1], self.seconds[-1]
        return None

    # --- the zone ---

    def _offset(self, second: int) -> float:
        if self.tz is None:
            return time.localtime(second).tm_gmtoff
        offset = datetime.fromtimestamp(second, self.tz).utcoffset()
        return offset.total_seconds() if offset is not None else 0.0

    def _change_after(self, low: int, high: int) -> int:
        """The first second in (low, high] whose UTC offset differs from low's."""
        base = self._offset(low)
        while high - low > 1:
            mid = (low + high) // 2
            if self._offset(mid) == base:
                low = mid
            else:
                high = mid
        return high

    def _wall(self, second: int) -> datetime:
        return datetime.fromtimestamp(second, self.tz).replace(tzinfo=None, fold=0)

    def _instants(self, wall: datetime) -> tuple[list[int], int]:
        """The seconds showing `wall`, in order (two in a fall-back repeat, none in a
        spring-forward gap), and the first second after them or after the gap."""
        # PEP 495: in a gap fold=0 reads with the offset before it (a later instant),
        # fold=1 with the offset after it; in a repeat fold=0 is the first occurrence.
        first, second = (int(wall.replace(fold=fold, tzinfo=self.tz).timestamp())
                         for fold in (0, 1))
        shown = sorted(t for t in {first, second} if self._wall(t) == wall)
        if shown:
            return shown, shown[-1] + 1
        return [], self._change_after(second, first)

    def _first_instant(self, wall: datetime) -> int:
        """The first second showing `wall`, or the end of the gap that swallows it."""
        shown, end = self._instants(wall)
        return shown[0] if shown else end

    # --- matching wall times ---

    def _day_matches(self, day: datetime) -> bool:
        dom = day.day in self.days
        dow = (day.weekday() + 1) % 7 in self.weekdays
        # Standard cron: when both day fields are restricted either one may match.
        if self.dom_star or self.dow_star:
            return dom and dow
        return dom or dow

    def _next_wall(self, d: datetime) -> datetime | None:
        """The earliest matching naive wall time at or after `d`."""
        last_year = d.year + _SEARCH_YEARS
        while d.year <= last_year:
            if d.month not in self.months:
                month = _next_value(self.months, d.month)
                d = (
                    datetime(d.year, month, 1)
                    if month is not None
                    else datetime(d.year + 1, self.months[0], 1)
                )
                continue
            if not self._day_matches(d):
                d = datetime(d.year, d.month, d.day) + timedelta(days=1)
                continue
            hour = _next_value(self.hours, d.hour)
            if hour is None:
                d = datetime(d.year, d.month, d.day) + timedelta(days=1)
                continue
            if hour != d.hour:
                d = d.replace(hour=hour, minute=0, second=0)
            minute = _next_value(self.minutes, d.minute)
            if minute is None:
                d = d.replace(minute=0, second=0) + timedelta(hours=1)
                continue
            if minute != d.minute:
                d = d.replace(minute=minute, second=0)
            second = _next_value(self.seconds, d.second)
            if second is None:
                d = d.replace(second=0) + timedelta(minutes=1)
                continue
            return d.replace(second=second)
        return None


def _next_value(values: tuple[int, ...], at_least: int) -> int | None:
    i = bisect_left(values, at_least)
    return values[i] if i < len(values) else None


def parse_cron(expr: str, tz: str | None = None, dst: str = "shift") -> Cron:
    """Parse `expr`; `tz` names a zone (e.g. `UTC`), None means local time; `dst` is what a
    fixed time of day in a spring-forward gap does (see the module's docstring).

    Raises ValueError saying what was expected, so config loading can report it.
    """
    if not isinstance(expr, str):
        raise ValueError(f"expected a cron expression string ({FIELDS_HELP}), got {expr!r}")
    text = _MACROS.get(expr.strip().lower(), expr)
    parts = text.split()
    if len(parts) != 6:
        raise ValueError(f"expected 6 cron fields ({FIELDS_HELP}), got {len(parts)} in {expr!r}")
    if dst not in DST_POLICIES:
        raise ValueError(f"expected dst to be one of {', '.join(DST_POLICIES)}, got {dst!r}")
    values = [_parse_field(part, spec) for part, spec in zip(parts, _SPECS, strict=True)]
    weekdays = tuple(sorted({0 if d == 7 else d for d in values[5]}))
    cron = Cron(
        expr=expr,
        seconds=values[0],
        minutes=values[1],
        hours=values[2],
        days=values[3],
        months=values[4],
        weekdays=weekdays,
        dom_star=parts[3].startswith("*"),
        dow_star=parts[5].startswith("*"),
        tz=_zone(tz),
        dst=dst,
        hour_star=parts[2].startswith("*"),
    )
    if (cron.dom_star or cron.dow_star) and not any(
        day <= _longest_month(month) for month in cron.months for day in cron.days
    ):
        raise ValueError(f"expected a day-of-month that exists in the given months in {expr!r}")
    return cron


def _zone(name: str | None) -> tzinfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"expected a time zone name such as UTC, got {name!r}") from exc


def _longest_month(month: int) -> int:
    return calendar.monthrange(2000, month)[1]  # a leap year, so February has 29


def _parse_field(text: str, spec: tuple[str, int, int, dict[str, int]]) -> tuple[int, ...]:
    name, low, high, _ = spec
    found: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"cron {name} field: expected a step >= 1, got {item!r}")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            first, last = _value(a, spec, item), _value(b, spec, item)
            if first > last:
                raise ValueError(f"cron {name} field: expected a range low-high, got {item!r}")
        else:
            first = _value(base, spec, item)
            last = high if step_text else first
        found.update(range(first, last + 1, step))
    return tuple(sorted(found))


def _value(text: str, spec: tuple[str, int, int, dict[str, int]], item: str) -> int:
    name, low, high, names = spec
    key = text.strip().lower()
    if key in names:
        return names[key]
    if key.isdigit() and low <= int(key) <= high:
        return int(key)
    hint = f" or a name ({', '.join(n.upper() for n in names)})" if names else ""
    raise ValueError(f"cron {name} field: expected {low}-{high}{hint}, got {item!r}")
