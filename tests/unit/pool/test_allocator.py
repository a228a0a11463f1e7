"""The allocation state machine, without processes."""

import pytest

from supervisor.pool.allocator import Pool, QueueFullError, Request, State


def request(name: str, now: float = 0.0) -> Request:
    return Request(name, b"echo", b"", b"", now)


def ready_pool(size: int, max_queue_size: int = 0, allocate_timeout: float = 60.0) -> Pool:
    pool = Pool(max_queue_size, allocate_timeout)
    for i in range(size):
        pool.add(i, f"w{i}".encode(), 0.0)
        pool.ready(f"w{i}".encode(), 100 + i, 0.0)
    return pool


def test_one_request_per_worker_then_fifo_queue():
    pool = ready_pool(2)
    assert pool.submit(request("a"), 1).ident == b"w0"
    assert pool.submit(request("b"), 1).ident == b"w1"
    assert pool.submit(request("c"), 1) is None
    assert pool.submit(request("d"), 1) is None
    worker, finished, following = pool.done(b"w1", 1, 2)
    assert (finished.origin, [r.origin for r in following], worker.state) == \
        ("b", ["c"], State.WORKING)
    assert pool.done(b"w0", 1, 3)[2][0].origin == "d"
    assert pool.done(b"w0", 2, 4)[2] == []
    assert pool.workers[b"w0"].state is State.READY
    assert pool.workers[b"w0"].jobs == 2


def test_queue_bound():
    pool = ready_pool(1, max_queue_size=1)
    pool.submit(request("a"), 0)
    pool.submit(request("b"), 0)
    with pytest.raises(QueueFullError):
        pool.submit(request("c"), 0)


def test_allocate_timeout_expires_oldest_first():
    pool = ready_pool(1, allocate_timeout=1.0)
    pool.submit(request("run"), 0)
    pool.submit(request("old", 0.0), 0.0)
    pool.submit(request("new", 0.6), 0.6)
    assert pool.next_deadline() == 1.0
    assert [r.origin for r in pool.expire(1.0)] == ["old"]
    assert pool.next_deadline() == pytest.approx(1.6)
    assert pool.expire(1.5) == []


def test_a_starting_worker_takes_the_waiting_request():
    pool = Pool(0, 60.0)
    pool.add(0, b"w0", 0)
    assert pool.submit(request("early"), 0) is None
    worker, taken = pool.ready(b"w0", 42, 1)
    assert (worker.pid, [r.origin for r in taken], worker.state) == (42, ["early"], State.WORKING)


def test_removed_worker_hands_back_its_request():
    pool = ready_pool(2)
    pool.submit(request("a"), 0)
    lost = pool.remove(b"w0")
    assert lost.request.origin == "a"
    assert list(pool.idle) == [pool.workers[b"w1"]]
    assert pool.remove(b"w0") is None


def test_retire_idle_now_busy_after_its_request():
    pool = ready_pool(2)
    pool.submit(request("a"), 0)
    assert pool.retire(b"w1") is True
    assert pool.workers[b"w1"].state is State.STOPPING
    assert pool.retire(b"w0") is False
    pool.submit(request("b"), 0)
    worker, _, following = pool.done(b"w0", 1, 1)
    assert following == [] and worker.state is State.STOPPING
    assert pool.queue[0].origin == "b"


def test_a_worker_retired_while_starting_takes_nothing():
    pool = Pool(0, 60.0)
    pool.add(0, b"w0", 0)
    pool.submit(request("waiting"), 0)
    assert pool.retire(b"w0") is True
    worker, taken = pool.ready(b"w0", 42, 1)
    assert (worker.state, taken, len(pool.queue)) == (State.STOPPING, [], 1)


def test_a_standby_successor_waits_until_activated():
    pool = ready_pool(1)
    pool.add(0, b"next", 0, standby=True)
    assert pool.ready(b"next", 7, 0) == (pool.workers[b"next"], [])
    pool.submit(request("busy"), 0)
    pool.submit(request("waiting"), 0)
    assert pool.serving() == 1 and list(pool.idle) == []
    assert [r.origin for r in pool.activate(b"next", 1)] == ["waiting"]
    assert pool.serving() == 2


def test_stale_events_are_ignored():
    pool = ready_pool(1)
    assert pool.done(b"w0", 1, 0) is None
    assert pool.done(b"ghost", 1, 0) is None
    assert pool.ready(b"w0", 1, 0) is None
    assert pool.count(State.READY) == 1


def test_job_cap_and_the_last_serving_workers_ceiling():
    pool = Pool(0, 60.0)
    for name in (b"a", b"b"):
        pool.add(0, name, 0, limits=(2, 3))
        pool.ready(name, 1, 0)
    assert pool.submit(request("1"), 0).ident == b"a"
    assert pool.submit(request("2"), 0).ident == b"b"
    pool.done(b"a", 1, 0)
    assert pool.submit(request("3"), 0).ident == b"a"
    assert pool.done(b"a", 2, 0)[0].state is State.STOPPING  # at its cap while b serves
    pool.done(b"b", 1, 0)
    pool.submit(request("4"), 0)
    assert pool.done(b"b", 2, 0)[0].state is State.READY  # the last one serving goes on
    pool.submit(request("5"), 0)
    worker = pool.done(b"b", 3, 0)[0]
    assert (worker.jobs, worker.state) == (3, State.STOPPING)  # but not past its ceiling
