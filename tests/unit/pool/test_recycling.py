"""Recycling rules and restart backoff, without processes."""

import random
from collections import deque

from supervisor.config import Policy
from supervisor.pool.allocator import Request, State, Worker
from supervisor.pool.backoff import Backoff
from supervisor.pool.recycling import (
    exec_deadline,
    jittered_ttl,
    job_limits,
    should_prespawn,
    soft_reason,
    start_deadline,
)


def worker(**fields) -> Worker:
    defaults = {"id": 0, "ident": b"w0", "started": 0.0, "state": State.READY, "ready_at": 1.0,
                "last_active": 1.0}
    return Worker(**{**defaults, **fields})


def test_job_limits_are_jittered_within_five_percent_under_a_ten_percent_ceiling():
    rng = random.Random(1)
    limits = [job_limits(100, rng) for _ in range(200)]
    assert min(cap for cap, _ in limits) == 100 and max(cap for cap, _ in limits) == 105
    assert {ceiling for _, ceiling in limits} == {110}
    assert job_limits(0) == (0, 0)


def test_prespawn_margin_follows_the_job_rate():
    slow = worker(max_jobs=100, jobs=40, ready_at=0.0)  # 40 jobs in 40 s
    assert not should_prespawn(slow, now=40.0, startup=0.1)
    assert should_prespawn(worker(max_jobs=100, jobs=50, ready_at=0.0), now=50.0, startup=0.1)
    fast = worker(max_jobs=100, jobs=50, ready_at=0.0)  # 50 jobs in 50 ms
    assert should_prespawn(fast, now=0.05, startup=0.1)
    assert not should_prespawn(worker(max_jobs=0, jobs=10**6), now=1.0, startup=0.1)


def test_soft_limits():
    limits = Policy(ttl=60, idle_ttl=10, max_worker_memory=80)
    assert soft_reason(worker(), 5.0, limits, 10) is None
    assert "ttl 60s" in soft_reason(worker(state=State.WORKING), 64.0, limits, 10)
    assert "idle" in soft_reason(worker(), 11.5, limits, 10)
    assert soft_reason(worker(state=State.WORKING), 11.5, limits, 10) is None
    assert "RSS 90 MB above max_worker_memory 80 MB" in soft_reason(worker(), 2.0, limits, 90)
    assert soft_reason(worker(state=State.RETIRING), 61.0, limits, 90) is None
    assert soft_reason(worker(state=State.STARTING), 61.0, limits, 90) is None


def test_exec_deadline():
    busy = worker(state=State.WORKING,
                  held=deque([Request(None, b"h", b"", b"", 3.0, started=4.0)]))
    assert exec_deadline(busy, 0.5) == 4.5
    assert exec_deadline(busy, 0) is None
    assert exec_deadline(worker(), 0.5) is None


def test_backoff_doubles_caps_and_resets():
    backoff = Backoff(first=0.1, cap=10.0)
    delays = [backoff.failed(0) for _ in range(10)]
    assert delays[:8] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0]
    assert delays[8:] == [10.0, 10.0]
    assert backoff.failing() == 1
    backoff.succeeded(0)
    assert backoff.failing() == 0 and backoff.failed(0) == 0.1


def test_ttl_is_jittered_within_five_percent_and_fixed_per_worker():
    ttls = [jittered_ttl(100.0, f"{i}.{i}".encode()) for i in range(200)]
    assert all(100.0 <= ttl <= 105.0 for ttl in ttls)
    assert max(ttls) - min(ttls) > 3.0  # spread, so workers of one reset do not leave together
    assert jittered_ttl(100.0, b"0.7") == jittered_ttl(100.0, b"0.7")
    limits = Policy(ttl=100)
    ident = min((f"0.{i}".encode() for i in range(50)), key=lambda i: -jittered_ttl(100.0, i))
    due = 1.0 + jittered_ttl(100.0, ident)  # ready_at is 1.0
    assert soft_reason(worker(ident=ident), due - 0.01, limits, None) is None
    assert "ttl 100s" in soft_reason(worker(ident=ident), due, limits, None)


def test_start_deadline_only_for_workers_still_loading():
    assert start_deadline(worker(state=State.STARTING, started=2.0), 5.0) == 7.0
    assert start_deadline(worker(state=State.WARMING, started=2.0), 5.0) == 7.0
    assert start_deadline(worker(state=State.STARTING, pid=42), 5.0) is None
    assert start_deadline(worker(state=State.READY), 5.0) is None
