"""When a worker should be recycled: RoadRunner's `pool.supervisor` limits and `max_jobs`.

Pure functions of a worker's record and the clock, so they are tested without
processes; the master acts on what they say.
"""

from __future__ import annotations

import math
import random

from supervisor.config import Policy
from supervisor.pool.allocator import State, Worker


def job_limits(max_jobs: int, rng: random.Random | None = None) -> tuple[int, int]:
    """A worker's job cap and ceiling; (0, 0) means no cap.

    The cap is `max_jobs` plus up to 5 % jitter, so workers do not all reach their
    caps together. Only the last serving worker may go past it, while its successor
    starts, and never past the ceiling, `max_jobs` plus 10 %.
    """
    if not max_jobs:
        return 0, 0
    return (max_jobs + (rng or random).randint(0, max_jobs // 20),
            max_jobs + max(1, max_jobs // 10))


def should_prespawn(worker: Worker, now: float, startup: float) -> bool:
    """Start `worker`'s successor now, so it is ready before `worker` hits its job cap?

    The margin is the jobs `worker` is expected to finish while a successor starts
    (its own job rate times the measured start-up time, four times over, as start-up
    slows down on a busy machine), and at least half the cap: fast handlers with a
    small cap need their successor early. Starting early costs one idle process: the
    successor waits on standby until the old worker reaches its cap.
    """
    if not worker.max_jobs:
        return False
    rate = worker.jobs / max(now - worker.ready_at, 1e-3)
    margin = max(math.ceil(rate * startup * 4), worker.max_jobs // 2, 1)
    return worker.max_jobs - worker.jobs <= margin


def soft_reason(worker: Worker, now: float, limits: Policy, rss_mb: float | None) -> str | None:
    """Why `worker` should be replaced once it is idle, or None."""
    if worker.state not in (State.READY, State.WORKING):
        return None
    if limits.ttl and now - worker.ready_at >= jittered_ttl(limits.ttl, worker.ident):
        return f"ttl {limits.ttl:g}s reached"
    if limits.idle_ttl and worker.state is State.READY and \
            now - worker.last_active >= limits.idle_ttl:
        return f"idle for {now - worker.last_active:.1f}s (idle_ttl {limits.idle_ttl:g}s)"
    if limits.max_worker_memory and rss_mb is not None and rss_mb > limits.max_worker_memory:
        return f"RSS {rss_mb:.0f} MB above max_worker_memory {limits.max_worker_memory:g} MB"
    return None


def exec_deadline(worker: Worker, exec_ttl: float) -> float | None:
    """When the request `worker` runs must be cut off, or None."""
    if not exec_ttl or worker.request is None:
        return None
    return worker.request.started + exec_ttl


def start_deadline(worker: Worker, start_timeout: float) -> float | None:
    """When a worker still loading its handlers must be given up on (pool.start_timeout)."""
    if worker.pid is not None or worker.state not in (State.STARTING, State.WARMING):
        return None
    return worker.started + start_timeout


def jittered_ttl(ttl: float, ident: bytes) -> float:
    """`ttl` plus up to 5 % jitter, fixed for each worker (seeded by its identity), so that
    workers started together, as after a reset, do not all leave together."""
    return ttl * (1 + 0.05 * random.Random(ident).random())
