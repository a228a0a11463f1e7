"""What the schedule tests share: a master whose tick handler records each tick, its status."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ops_support import cli
from tests.support import wait_until


def ticks(path: Path) -> list[dict]:
    """Each tick as the handler saw it: body, context, arrival time (wall clock), pid."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def start_ticking(start_master, tmp_path: Path, schedule: dict, workers: int = 2,
                  sleep: float = 0.0, **overrides):
    """A master whose `tick` handler appends to tmp_path/ticks.jsonl; (master, that path)."""
    log = tmp_path / "ticks.jsonl"
    master = start_master(env={"TICK_LOG": str(log), "TICK_SLEEP": str(sleep)},
                          pool={"num_workers": workers},
                          handlers={"tick": "tests.handlers:record_tick"},
                          **schedule, **overrides)
    return master, log


def scheduler_pid(master) -> int:
    return wait_until(lambda: next((p.pid for p in master.descendants()
                                    if "supervisor: scheduler" in " ".join(p.cmdline())), None))


def status(master) -> dict:
    result = cli("status", "--json", "-c", str(master.config_path))
    return json.loads(result.stdout)
