"""The fleet view behind `supervisor status --cluster`: members and singleton schedules.

Read straight from the engine, so it works from any host with the config, whether or not
a master runs there. Pure functions turn the records into a summary and text.
"""

from __future__ import annotations

import time
from typing import Any

from supervisor.cluster.slots import ScheduleRecord

_MEMBER_FIELDS = ("node", "host", "endpoint", "version", "pid", "leader", "epoch", "engine",
                  "updated", "claims")


def summarize(name: str, members: list[dict[str, Any]],
              records: dict[str, ScheduleRecord]) -> dict[str, Any]:
    """Members as they last wrote themselves; per schedule who leads it.

    A schedule is flagged unless exactly one live member says it leads it: none means
    nobody fires it now, two would mean a lease is broken (the claims still refuse
    every second firing, so this is a warning, not a double).
    """
    rows = sorted(({k: m.get(k) for k in _MEMBER_FIELDS} for m in members),
                  key=lambda m: str(m["node"]))
    names = set(records)
    for member in members:
        names.update((member.get("schedules") or {}).keys())
    schedules = {}
    for schedule in sorted(names):
        leaders = sorted(str(m.get("node")) for m in members if m.get("leader")
                         and schedule in (m.get("schedules") or {}))
        record = records.get(schedule)
        schedules[schedule] = {
            "leaders": leaders, "leader": leaders[0] if len(leaders) == 1 else None,
            "ok": len(leaders) == 1,
            **({} if record is None else {
                "epoch": record.epoch, "last_slot": record.last, "last_node": record.node,
                "first_slot": record.first, "fired": record.fired,
                "in_flight": int(record.confirmed != record.last),
                "missed": record.missed, "missed_total": record.missed_total})}
    return {"name": name, "members": rows, "schedules": schedules,
            "healthy": all(s["ok"] for s in schedules.values())}


def render(summary: dict[str, Any], now: float | None = None) -> str:
    now = time.time() if now is None else now
    lines = [f"cluster {summary['name']}: {len(summary['members'])} members"]
    for m in summary["members"]:
        age = "" if m["updated"] is None else f", seen {max(0.0, now - m['updated']):.1f}s ago"
        role = f"leader (epoch {m['epoch']})" if m["leader"] else "follower"
        lines.append(f"  {m['node']}: {role}, engine {m['engine']}, {m['endpoint']} on "
                     f"{m['host']}, version {m['version']}{age}")
    for schedule, s in summary["schedules"].items():
        who = s["leader"] or ("NO LEADER" if not s["leaders"] else
                              f"SEVERAL LEADERS: {', '.join(s['leaders'])}")
        line = f"  schedule {schedule}: {who}"
        if "fired" in s:
            missed = ", ".join(f"{k} {v}" for k, v in s["missed"].items() if v) or "none"
            line += (f"; epoch {s['epoch']}, last slot {s['last_slot']} by {s['last_node']}, "
                     f"fired {s['fired']}, missed {s['missed_total']} ({missed})")
        lines.append(line)
    return "\n".join(lines)
