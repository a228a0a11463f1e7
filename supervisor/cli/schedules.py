"""The schedule commands: `schedules`, `tick NAME`, `pause NAME`, `resume NAME`, and the
next fire times that `check` prints."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from supervisor.config import Config, ScheduleConfig
from supervisor.errors import EXIT_FAILURE, EXIT_NOT_RUNNING, EXIT_OK, SupervisorError

NEXT_FIRES = 5
CONTROL_TIMEOUT = 5.0


def when(t: float | None, tz: str | None = None) -> str:
    """A moment as a person reads it, in the schedule's zone (local time when it has none)."""
    if t is None:
        return "-"
    moment = datetime.fromtimestamp(t, ZoneInfo(tz)) if tz else datetime.fromtimestamp(t)
    if tz is None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z")


def describe(row: dict[str, Any]) -> str:
    """`every 1s` or `cron "0 30 2 * * *" Europe/Berlin`."""
    if row.get("every") is not None:
        return f"every {row['every']:g}s"
    return f"cron \"{row['cron']}\" {row.get('tz') or 'local'}"


def next_fires(config: Config, count: int = NEXT_FIRES, now: float | None = None) -> list[str]:
    """For `supervisor check`: each schedule's next fire times, in its zone."""
    from supervisor.scheduling import state
    from supervisor.scheduling.dispatcher import schedule_spec
    from supervisor.triggers.timeline import Timeline

    now = time.time() if now is None else now
    specs = [schedule_spec(schedule, now) for schedule in config.schedules]
    try:
        saved = state.load_resume(config.run_dir / state.STATE_FILE, specs)
    except state.StateError:
        saved = {}
    lines = []
    for schedule, spec in zip(config.schedules, specs, strict=True):
        head = f"schedule {schedule.name}: {_setting_text(schedule)}"
        if schedule.every is not None and schedule.name not in saved:
            lines.append(f"{head}; on a grid that starts with the master")
            continue
        line = Timeline.from_spec(spec, saved.get(schedule.name))
        t = line.kind.after(now, line.anchor)
        fires = []
        for _ in range(count):
            fires.append(when(t, schedule.tz))
            t = line.kind.after(t, line.anchor)
        lines.append(f"{head}; next:")
        lines += [f"  {fire}" for fire in fires]
    return lines


def _setting_text(schedule: ScheduleConfig) -> str:
    text = describe({"every": schedule.every, "cron": schedule.cron, "tz": schedule.tz})
    if schedule.cron is not None:
        text += f", dst {schedule.dst}"
    return f"{text}, catch_up {schedule.catch_up}, overlap {schedule.overlap}"


def table(reply: dict[str, Any]) -> str:
    """`supervisor schedules`: one line per schedule, columns as wide as their content."""
    head = ("NAME", "KIND", "STATE", "NEXT DUE", "LAST OUTCOME", "DELIVERED", "FAILED",
            "SKIPPED", "MANUAL")
    rows = [head]
    for name, row in sorted(reply["schedules"].items()):
        skipped = {k: v for k, v in row["skipped"].items() if v}
        manual = {k: v for k, v in row["manual"].items() if v}
        state = "paused" if row["paused"] else ("running" if row["running"] else "waiting")
        if row["running"] and row["paused"]:
            state += " (running)"
        rows.append((name, describe(row), state, when(row["nextDue"], row.get("tz")),
                     row["lastOutcome"] or "-", str(row["delivered"]), str(row["failed"]),
                     _counts(skipped), _counts(manual)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "-"


def _call(args: argparse.Namespace, command: str, **call_args: Any) -> Any:
    """One control request to the master of the config's run_dir."""
    from supervisor.cli.operations import _control

    return _control(args, command, CONTROL_TIMEOUT, **call_args)


def cmd_schedules(args: argparse.Namespace) -> int:
    try:
        reply = _call(args, "schedules")
    except SupervisorError as exc:
        print(f"supervisor: {exc}", file=sys.stderr)
        return EXIT_NOT_RUNNING
    print(json.dumps(reply, indent=2) if args.json else table(reply))
    return EXIT_OK


def cmd_tick(args: argparse.Namespace) -> int:
    try:
        reply = _call(args, "tick", name=args.name)
    except SupervisorError as exc:
        print(f"supervisor: tick {args.name}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"supervisor: schedule {reply['schedule']}: manual tick sent to worker "
          f"{reply['worker']}")
    return EXIT_OK


def cmd_pause(args: argparse.Namespace) -> int:
    verb = args.command
    try:
        reply = _call(args, verb, name=args.name)
    except SupervisorError as exc:
        print(f"supervisor: {verb} {args.name}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    state = "paused" if reply["paused"] else "running"
    note = "" if reply["changed"] else " (it already was)"
    print(f"supervisor: schedule {reply['schedule']} is {state}{note}")
    if not reply["saved"]:
        print("supervisor: warning: the change could not be saved in run_dir; see the log",
              file=sys.stderr)
    return EXIT_OK


def add_commands(command: Any) -> None:
    """Add the schedule subcommands through main's `command(name, handler, help)`."""
    listing = command("schedules", cmd_schedules,
                      "one line per schedule: kind, state, next due, last outcome, counts")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    tick = command("tick", cmd_tick, "run a schedule's handler now, through its overlap "
                                     "policy and accounting (counted as manual)")
    tick.add_argument("name", help="schedule name (`supervisor schedules` lists them)")
    for verb, text in (("pause", "stop a schedule's ticks from running (counted as paused); "
                                 "kept across resets and restarts"),
                       ("resume", "let a paused schedule run again from its next slot")):
        sub = command(verb, cmd_pause, text)
        sub.add_argument("name", help="schedule name")
