"""A worker busy for stuck_after or longer is stuck; 0 turns the notion off."""

from __future__ import annotations

from supervisor.pool.allocator import Request, Worker
from supervisor.pool.recycling import stuck
from supervisor.pool.states import State


def _busy_since(started: float) -> Worker:
    worker = Worker(0, b"0.1", 0.0, State.WORKING)
    worker.held.append(Request(None, b"sleep", b"", b"", started, started))
    return worker


def test_stuck_after_its_request_ran_stuck_after():
    assert not stuck(_busy_since(10.0), 69.9, 60.0)
    assert stuck(_busy_since(10.0), 70.0, 60.0)


def test_an_idle_worker_is_never_stuck_and_zero_means_never():
    assert not stuck(Worker(0, b"0.1", 0.0, State.READY), 1e9, 60.0)
    assert not stuck(_busy_since(0.0), 1e9, 0.0)
