"""Worker slots in-process: failures back off, recycling replaces first, stops signal."""

from __future__ import annotations

import signal

from supervisor import wire
from supervisor.pool.states import State


def test_a_worker_failing_at_start_degrades_the_pool_with_backoff(harness):
    h = harness(workers=1)
    (first,) = h.idents
    h.exit(first, 3)
    workers = h.master.workers
    assert workers.degraded and workers.pending[0] > 0
    assert h.master.ops.metrics.restarts["failed_start"] == 1


def test_a_ready_worker_clears_the_degraded_state(harness):
    h = harness(workers=1)
    h.exit(h.idents[0], 3)
    workers = h.master.workers
    workers.start_due(workers.pending[0])
    h.ready(h.idents[0])
    assert not workers.degraded


def test_soft_recycling_starts_the_successor_before_the_old_worker_stops(harness):
    h = harness(workers=1)
    h.ready_all()
    (old,) = h.idents
    h.master.workers.replace(old, 1.0, "ttl 1s reached")
    new = next(ident for ident in h.idents if ident != old)
    assert h.master.pool.workers[old].state is State.READY  # still serving
    h.ready(new)
    assert h.backend.to(old) == [[wire.STOP]]
    assert h.master.ops.metrics.restarts["recycled"] == 1


def test_a_stop_signals_workers_still_starting(harness, children):
    h = harness()
    h.master.workers.stop_idle()
    assert sorted(children.signalled(signal.SIGTERM)) == sorted(p.pid for p in
                                                                children.processes)
    assert all(w.state is State.STOPPING for w in h.master.pool.workers.values())


def test_a_killed_worker_is_replaced_at_once_and_counted(harness):
    h = harness(workers=1)
    h.ready_all()
    (worker,) = h.idents
    h.master.pool.retire(worker)
    h.exit(worker, -signal.SIGKILL)
    assert h.master.ops.metrics.restarts["killed"] == 1
    assert 0 in h.master.workers.pending
