"""Text for people: the `supervisor workers` table and the `supervisor status` summary.

Both take the dicts the control socket returns (see `supervisor.snapshot`), so
`--json` and the text never disagree. Lines stay within 100 columns.
"""

from __future__ import annotations

import textwrap
import time
from typing import Any

WIDTH = 100
_COLUMNS = (("ID", 4, ">"), ("PID", 8, ">"), ("STATE", 9, "<"), ("JOBS", 8, ">"),
            ("RSS MB", 8, ">"), ("CPU %", 6, ">"), ("AGE", 9, ">"), ("RUNNING", 32, "<"))


def duration(seconds: float | None) -> str:
    """Compact human durations: 850ms, 12.3s, 4m05s, 2h07m, 3d04h."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def _cell(text: str, width: int, align: str) -> str:
    if len(text) > width:
        text = text[: width - 1] + "~"
    return f"{text:{align}{width}}"


def _line(values: list[str]) -> str:
    return "  ".join(_cell(v, w, a) for v, (_, w, a) in zip(values, _COLUMNS, strict=True)).rstrip()


def workers_table(reply: dict[str, Any]) -> str:
    """The `rr workers`-style table: one line per worker process."""
    lines = [_line([name for name, _, _ in _COLUMNS])]
    for row in reply["workers"]:
        request = row.get("request")
        running = f"{request['handler']} {duration(request['running'])}" if request else ""
        lines.append(_line([
            str(row["id"]), str(row["pid"] or "-"), row["state"], str(row["jobs"]),
            "-" if row["rss"] is None else f"{row['rss'] / 1048576:.1f}",
            "-" if row["cpu"] is None else f"{row['cpu']:.1f}",
            duration(row["age"]), running,
        ]))
    lines.append(f"{len(reply['workers'])} processes, pool size {reply['size']}")
    return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {name}" for name, count in sorted(counts.items())) or "none"


def _schedule(stats: dict) -> str:
    """One schedule's tick accounting, e.g. `12 delivered, 0 failed, skipped 3 overlap`."""
    skipped = {k: v for k, v in stats.get("skipped", {}).items() if v}
    text = f"{stats.get('delivered', 0)} delivered, {stats.get('failed', 0)} failed"
    if skipped:
        text += ", skipped " + ", ".join(f"{v} {k}" for k, v in sorted(skipped.items()))
    if stats.get("nextDue"):
        text += f", next in {duration(max(0.0, stats['nextDue'] - time.time()))}"
    return text


def status_text(status: dict[str, Any]) -> str:
    """`supervisor status`: one labelled line per part, schedules one line each."""
    pool = status["pool"]
    lines = [
        f"master     pid {status['pid']}, up {duration(status['uptime'])}, {status['state']}",
        f"pool       size {pool['size']}: {pool['ready']} ready, {pool['working']} working, "
        f"{pool['starting']} starting, {pool['stopping']} stopping",
        f"queue      {status['queue']} waiting",
        f"requests   {_counts(status['requests'])}",
        f"restarts   {_counts(status['restarts'])}",
    ]
    if pool.get("last_failure"):
        lines.append(f"failing    {pool['last_failure']}")
    schedules = status.get("schedules") or {}
    for name, stats in sorted(schedules.items()):
        lines.append(f"schedule   {name}: {_schedule(stats)}")
    lines += _keepalive_lines(status.get("keepalive") or {})
    lines += _centrifugo_lines(status.get("centrifugo"))
    if status.get("metrics"):
        lines.append(f"metrics    {status['metrics']}")
    return "\n".join(line[:WIDTH] for line in lines)


def _centrifugo_lines(proxy: dict[str, Any] | None) -> list[str]:
    """The proxy's state and address, then one line of gRPC statuses per event."""
    if not proxy:
        return []
    pid = f" (pid {proxy['pid']})" if proxy.get("pid") else ""
    lines = [f"centrifugo {proxy['state']} on {proxy.get('address') or '-'}{pid}, "
             f"API {proxy.get('api')}"]
    if proxy.get("error"):
        lines.append(f"           last error: {proxy['error']}")
    for event, statuses in sorted((proxy.get("calls") or {}).items()):
        lines.append(f"           {event}: {_counts(statuses)}")
    return lines


def _keepalive_lines(keepalive: dict[str, Any]) -> list[str]:
    """State, node, reports and the last success; the last error on a line of its own."""
    if not keepalive.get("enabled"):
        return ["keepalive  disabled"]
    if "state" not in keepalive:
        return ["keepalive  enabled"]
    since = keepalive.get("since_success")
    last = "never" if since is None else f"{duration(since)} ago"
    lines = [f"keepalive  {keepalive['state']}: {keepalive.get('reports', 0)} reports, last "
             f"{last}, every {keepalive.get('interval'):g}s; rounds: "
             f"{_counts(keepalive.get('results') or {})}",
             f"           node {keepalive.get('node')}"]
    if keepalive.get("last_error"):
        lines += textwrap.wrap(f"last error: {keepalive['last_error']}", WIDTH,
                               initial_indent=" " * 11, subsequent_indent=" " * 13)
    return lines
