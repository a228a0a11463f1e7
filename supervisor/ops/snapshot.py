"""What `supervisor status` and `supervisor workers` show, built from the master's live state.

Plain dicts of JSON types, the same for the control socket's `--json` users and
for the tables the CLI prints. Process facts (RSS, CPU) come from psutil.
"""

from __future__ import annotations

import time
from typing import Any

import psutil

from supervisor.pool.allocator import Pool, Worker
from supervisor.pool.recycling import stuck
from supervisor.pool.states import State


class CpuSampler:
    """CPU % of each process since the previous sample (or since it started, the first time).

    A sample younger than `MIN_INTERVAL` is reused, so two quick queries do not
    divide by a tiny time step.
    """

    MIN_INTERVAL = 0.5

    def __init__(self) -> None:
        self.samples: dict[int, tuple[psutil.Process, float, float, float]] = {}

    def percent(self, pid: int) -> tuple[psutil.Process, float] | None:
        now = time.time()
        try:
            cached = self.samples.get(pid)
            process = cached[0] if cached else psutil.Process(pid)
            times = process.cpu_times()
            total = times.user + times.system
            if cached is None:
                elapsed = max(now - process.create_time(), 1e-3)
                percent = 100.0 * total / elapsed
            elif now - cached[2] < self.MIN_INTERVAL:
                return process, cached[3]
            else:
                percent = 100.0 * (total - cached[1]) / (now - cached[2])
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            self.samples.pop(pid, None)
            return None
        self.samples[pid] = (process, total, now, percent)
        return process, percent

    def forget_others(self, pids: set[int]) -> None:
        for pid in set(self.samples) - pids:
            del self.samples[pid]


def shown(worker: Worker, now: float, stuck_after: float) -> str:
    """A worker's state as operators see it: `stuck` when busy for `stuck_after` or longer."""
    return "stuck" if stuck(worker, now, stuck_after) else worker.state.shown


def worker_rows(pool: Pool, pids: dict[bytes, int | None], sampler: CpuSampler,
                now: float, stuck_after: float) -> list[dict[str, Any]]:
    """One row per worker process, by id then age; `pids` fills in pids of starting workers."""
    rows = []
    for worker in sorted(pool.workers.values(), key=lambda w: (w.id, w.started)):
        pid = worker.pid or pids.get(worker.ident)
        rows.append(_row(worker, pid, sampler, now) | {"state": shown(worker, now, stuck_after)})
    sampler.forget_others({row["pid"] for row in rows if row["pid"]})
    return rows


def _row(worker: Worker, pid: int | None, sampler: CpuSampler, now: float) -> dict[str, Any]:
    rss = cpu = None
    sample = sampler.percent(pid) if pid else None
    if sample is not None:
        process, cpu = sample
        try:
            rss = process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            rss = None
    request = None
    if worker.request is not None:
        request = {"handler": worker.request.handler.decode("utf-8", "replace"),
                   "running": round(now - worker.request.started, 3)}
    return {"id": worker.id, "pid": pid, "state": worker.state.shown, "jobs": worker.jobs,
            "rss": rss, "cpu": None if cpu is None else round(cpu, 1),
            "age": round(now - worker.started, 3), "request": request,
            "held": len(worker.held)}


def pool_counts(pool: Pool, now: float, stuck_after: float) -> dict[str, int]:
    counts = {state.shown: 0 for state in State} | {"stuck": 0}
    for worker in list(pool.workers.values()):
        counts[shown(worker, now, stuck_after)] += 1
    return counts


def summary(state: str, size: int, counts: dict[str, int], queue: int) -> str:
    """The one-line STATUS= text for systemd (`systemctl status` shows it)."""
    up = counts["ready"] + counts["working"] + counts["stuck"]
    text = f"{state}: {up}/{size} workers up ({counts['working'] + counts['stuck']} busy), " \
        f"{queue} queued"
    if counts["stuck"]:
        text += f", {counts['stuck']} stuck"
    if counts["starting"]:
        text += f", {counts['starting']} starting"
    return text
