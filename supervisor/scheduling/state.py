"""The schedules' state in run_dir, kept across restarts of the master and the scheduler.

`schedules.json` is the scheduler's journal: per schedule the last slot it fired, that
slot's tick number and the grid's anchor. A tick leaves only once its entry is on disk
(written whole, fsync'd, renamed into place), so a restart, even after SIGKILL, never
sends a slot again: at most once, as every request. One write covers the slots of the
next `RESERVE` seconds, so a fast schedule writes twice a second, not once per tick: a
fsync per 10 ms tick made ticks late whenever the disk was busy.

`paused.json` lists the paused schedules; the master writes it on `pause`/`resume`. A
file that cannot be read is reported in one line and ignored: the schedules start afresh.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

STATE_FILE = "schedules.json"
PAUSED_FILE = "paused.json"
_VERSION = 1
_MAX_BYTES = 1 << 20
# The journal entry for a slot is asked for this long before the slot, so the disk's
# fsync does not make the tick late; killed inside this window, the slot is not run.
RECORD_AHEAD = 0.1
# One journal write covers the slots up to this many seconds after the one firing, and is
# renewed when less than half of that is left; slots covered but not sent when the master
# is SIGKILLed are not run after the restart.
RESERVE = 1.0
# A journal that cannot be written is reported at most this often; ticks go on meanwhile.
_REPORT_EVERY = 60.0

log = logging.getLogger("supervisor.scheduler")


class StateError(ValueError):
    """A state file that cannot be used; the message is one line naming the file."""


def schedule_key(spec: dict[str, Any]) -> str:
    """What the numbering depends on: saved state for another grid is not resumed."""
    if spec.get("every") is not None:
        return f"every {float(spec['every'])!r}"
    return f"cron {spec['cron']} tz={spec.get('tz') or 'local'} dst={spec.get('dst') or 'shift'}"


def write_atomic(path: Path, data: Any) -> None:
    """Replace `path` with `data` as JSON such that a crash leaves the old or the new file."""
    body = json.dumps(data, separators=(",", ":")).encode()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        view = memoryview(body)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_json(path: Path) -> Any:
    """The file's JSON, None when there is no file; StateError when it is not usable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as stream:
        data = stream.read(_MAX_BYTES + 1)
    if len(data) > _MAX_BYTES:
        raise StateError(f"{path}: larger than {_MAX_BYTES} bytes")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        reason = (f"{exc.msg} at line {exc.lineno} column {exc.colno}"
                  if isinstance(exc, json.JSONDecodeError) else "nested too deeply")
        raise StateError(f"{path}: not valid JSON ({reason}; truncated?)") from None


def load_resume(path: Path, specs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per schedule name, where its numbering resumes (`next_tick`, `last_tick`, `anchor`),
    for the schedules whose saved grid is still the configured one."""
    data = read_json(path)
    if data is None:
        return {}
    if not isinstance(data, dict) or data.get("version") != _VERSION or \
            not isinstance(data.get("schedules"), dict):
        raise StateError(f"{path}: expected {{\"version\": {_VERSION}, \"schedules\": {{...}}}}")
    keys = {spec["name"]: schedule_key(spec) for spec in specs}
    resume = {}
    for name, record in data["schedules"].items():
        if not _valid(record):
            raise StateError(f"{path}: schedule {name!r}: expected {{key, anchor, tick, slot}} "
                             f"with numbers, got {json.dumps(record)[:80]}")
        if keys.get(name) == record["key"]:
            resume[name] = {"next_tick": record["tick"] + 1, "last_tick": float(record["slot"]),
                            "anchor": float(record["anchor"])}
    return resume


def _valid(record: Any) -> bool:
    if not isinstance(record, dict) or not isinstance(record.get("key"), str):
        return False
    tick = record.get("tick")
    if isinstance(tick, bool) or not isinstance(tick, int) or tick < 0:
        return False
    return all(isinstance(record.get(k), int | float) and not isinstance(record.get(k), bool)
               and math.isfinite(record[k]) for k in ("anchor", "slot"))


class Journal:
    """The scheduler's side: the last slot each schedule fired, on disk before it leaves.

    Writes happen on a thread of their own, asked for ahead of the slots they cover, so
    the disk's fsync is off the ticks' path: a tick waits only while its entry is not on
    disk yet. A failed write (disk full, run_dir gone) is reported, not raised: the ticks
    go on, and the next write tries again.
    """

    def __init__(self, path: Path, specs: list[dict[str, Any]],
                 resume: dict[str, dict[str, Any]]) -> None:
        self.path = path
        self.keys = {spec["name"]: schedule_key(spec) for spec in specs}
        self.records: dict[str, dict[str, Any]] = {}
        for name, state in resume.items():
            if name in self.keys and state.get("last_tick") is not None and \
                    state.get("next_tick", 0) > 0:
                self.records[name] = {"key": self.keys[name], "anchor": state["anchor"],
                                      "tick": state["next_tick"] - 1, "slot": state["last_tick"]}
        self.on_disk = {name: record["tick"] for name, record in self.records.items()}
        self.report_at = 0.0
        self.asked_for = self.written = 0
        self.closed = False
        self.changed = threading.Condition()
        self.writer = threading.Thread(target=self._write_loop, name="journal", daemon=True)
        self.writer.start()

    def tracks(self, schedule: str) -> bool:
        """Singleton schedules are not journalled: the cluster keeps their slots."""
        return schedule in self.keys

    def asked(self, schedule: str, tick: int) -> bool:
        """Whether a write that counts tick number `tick` as fired was asked for."""
        record = self.records.get(schedule)
        return record is not None and record["tick"] >= tick

    def reserve(self, schedule: str, tick: int, slot: float, anchor: float) -> None:
        """Ask for tick number `tick` at `slot` to be written as the last fired slot."""
        with self.changed:
            self.records[schedule] = {"key": self.keys[schedule], "anchor": anchor,
                                      "tick": tick, "slot": slot}
            self.asked_for += 1
            self.changed.notify_all()

    def wait(self, schedule: str, tick: int, timeout: float) -> bool:
        """Block until tick number `tick` is on disk as fired; False after `timeout`."""
        with self.changed:
            return self.changed.wait_for(lambda: self.on_disk.get(schedule, -1) >= tick,
                                         timeout)

    def close(self) -> None:
        with self.changed:
            self.closed = True
            self.changed.notify_all()
        self.writer.join(1.0)

    def _write_loop(self) -> None:
        while True:
            with self.changed:
                self.changed.wait_for(lambda: self.closed or self.asked_for > self.written)
                if self.closed:
                    return
                asked_for = self.asked_for
                records = {name: dict(record) for name, record in self.records.items()}
            try:
                write_atomic(self.path, {"version": _VERSION, "schedules": records})
            except OSError as exc:
                self._report(exc)
            with self.changed:
                self.written = asked_for
                self.on_disk = {name: record["tick"] for name, record in records.items()}
                self.changed.notify_all()

    def _report(self, exc: OSError) -> None:
        now = time.monotonic()
        if now >= self.report_at:
            self.report_at = now + _REPORT_EVERY
            log.warning("%s: cannot save the schedules' state (%s); a restart may not know the "
                        "last slots fired", self.path, exc.strerror or exc)


def load_paused(path: Path, names: list[str]) -> set[str]:
    """The configured schedules that were paused when the master last ran."""
    data = read_json(path)
    if data is None:
        return set()
    if not isinstance(data, dict) or not isinstance(data.get("paused"), list) or \
            not all(isinstance(name, str) for name in data["paused"]):
        raise StateError(f"{path}: expected {{\"paused\": [schedule names]}}")
    return set(data["paused"]) & set(names)


def save_paused(path: Path, paused: set[str]) -> None:
    write_atomic(path, {"paused": sorted(paused)})
