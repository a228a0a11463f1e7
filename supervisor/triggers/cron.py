"""Six-field cron expressions (seconds first), evaluated on a wall clock.

A slot is every whole unix second whose wall-clock time in the expression's
zone (the machine's local time unless a zone is named) matches all fields.
So on a DST spring-forward day a time that does not exist never fires, and on
a fall-back day a time that occurs twice fires twice; name `UTC` to avoid both.
"""

from __future__ import annotations

import calendar
import math
import time
from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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

    def next_after(self, t: float) -> float:
        """The first slot strictly after unix time `t`, as whole seconds."""
        return float(self._search(math.floor(t) + 1))

    def at_or_after(self, t: float) -> float:
        """The first slot at or after unix time `t`, as whole seconds."""
        return float(self._search(math.ceil(t)))

    def _search(self, second: int) -> int:
        found = self._search_forward(second)
        # The forward walk assumes the wall clock only moves forward; if it is set
        # back soon after `second`, the repeated wall times can match again.
        horizon = min(found, second + 86400)
        if self._offset(horizon) < self._offset(second):
            repeat = self._change_after(second, horizon)
            if repeat < found:
                found = min(found, self._search_forward(repeat))
        return found

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

    def _search_forward(self, second: int) -> int:
        while True:
            wall = self._wall(second)
            match = self._next_wall(wall)
            if match is None:
                raise ValueError(f"cron {self.expr!r} has no slot after {second}")
            if match == wall:
                return second
            real = self._real(match, second)
            if real is not None:
                return real
            # `match` falls in a DST gap: resume the search after the gap.
            second = max(second + 1, int(match.replace(fold=0, tzinfo=self.tz).timestamp()))

    def _wall(self, second: int) -> datetime:
        return datetime.fromtimestamp(second, self.tz).replace(tzinfo=None, fold=0)

    def _real(self, wall: datetime, not_before: int) -> int | None:
        """The earliest second >= not_before showing `wall`; None when it does not exist."""
        found = [
            second
            for fold in (0, 1)
            if (second := int(wall.replace(fold=fold, tzinfo=self.tz).timestamp())) >= not_before
            and self._wall(second) == wall
        ]
        return min(found, default=None)

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


def parse_cron(expr: str, tz: str | None = None) -> Cron:
    """Parse `expr`; `tz` names a zone (e.g. `UTC`), None means local time.

    Raises ValueError saying what was expected, so config loading can report it.
    """
    if not isinstance(expr, str):
        raise ValueError(f"expected a cron expression string ({FIELDS_HELP}), got {expr!r}")
    text = _MACROS.get(expr.strip().lower(), expr)
    parts = text.split()
    if len(parts) != 6:
        raise ValueError(f"expected 6 cron fields ({FIELDS_HELP}), got {len(parts)} in {expr!r}")
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
