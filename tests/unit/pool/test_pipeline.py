"""Prefetch (`pool.pipeline`): what a worker may hold, and that nothing held is lost or doubled."""

import pytest

from supervisor.pool.allocator import Pool, QueueFullError, Request, State
from supervisor.pool.prefetch import Durations


def request(name: str, handler: bytes = b"echo", now: float = 0.0, **fields) -> Request:
    return Request(name, handler, b"", b"", now, **fields)


def pool_of(size: int, pipeline: int = 4, fast: tuple[bytes, ...] = (b"echo",),
            max_queue_size: int = 0, **options) -> Pool:
    pool = Pool(max_queue_size, 60.0, pipeline=pipeline, prefetch_below=0.005, **options)
    for handler in fast:
        for _ in range(4):
            pool.durations.record(handler, 0.0001)
    for i in range(size):
        pool.add(i, f"w{i}".encode(), 0.0)
        pool.ready(f"w{i}".encode(), 100 + i, 0.0)
    return pool


def held(pool: Pool, ident: bytes) -> list[str]:
    return [r.origin for r in pool.workers[ident].held]


def test_idle_workers_first_then_prefetch_behind_fast_handlers_up_to_the_pipeline():
    pool = pool_of(2, pipeline=3)
    assert [pool.submit(request(n), 0).ident for n in "ab"] == [b"w0", b"w1"]
    assert [pool.submit(request(n), 0).ident for n in "cdef"] == [b"w0", b"w1", b"w0", b"w1"]
    assert pool.submit(request("g"), 0) is None
    assert (held(pool, b"w0"), held(pool, b"w1"), [r.origin for r in pool.queue]) == \
        (["a", "c", "e"], ["b", "d", "f"], ["g"])
    assert [r.seq for r in pool.workers[b"w0"].held] == [1, 2, 3]


def test_never_behind_a_slow_or_unmeasured_handler():
    pool = pool_of(1)
    pool.submit(request("slow", b"report"), 0)
    assert pool.submit(request("next"), 0) is None  # report was never measured
    for _ in range(4):
        pool.durations.record(b"report", 0.050)
    assert pool.submit(request("later"), 0) is None
    assert held(pool, b"w0") == ["slow"]


def test_fifo_a_new_request_never_overtakes_the_queue():
    pool = pool_of(1, pipeline=2)
    pool.submit(request("a", b"report"), 0)
    pool.submit(request("b"), 0)
    pool.durations.record(b"report", 0.0001)  # measured fast now, but b waits first
    assert pool.submit(request("c"), 0) is None
    assert [r.origin for r in pool.queue] == ["b", "c"]
    _, finished, taken = pool.done(b"w0", 1, 0.001)
    assert (finished.origin, [r.origin for r in taken]) == ("a", ["b", "c"])


def test_answers_in_order_and_the_next_held_request_starts_at_the_previous_answer():
    pool = pool_of(1, pipeline=3)
    for name in "abc":
        pool.submit(request(name), 1.0)
    assert pool.done(b"w0", 2, 2.0) is None  # answers come in order; b is not first
    worker, finished, taken = pool.done(b"w0", 1, 2.0)
    assert (finished.origin, taken, worker.request.origin) == ("a", [], "b")
    assert worker.request.started == 2.0
    pool.done(b"w0", 2, 3.0)
    pool.done(b"w0", 3, 4.0)
    assert (worker.state, worker.jobs, list(pool.idle)) == (State.READY, 3, [worker])


def test_a_tick_gets_a_place_beyond_a_full_pipeline_but_never_queues():
    pool = pool_of(1, pipeline=2)
    pool.submit(request("a"), 0)
    pool.submit(request("b"), 0)
    assert pool.place_tick(request("tick", b"tick"), 0).ident == b"w0"
    assert pool.place_tick(request("tick2", b"tick"), 0) is None
    assert held(pool, b"w0") == ["a", "b", "tick"] and not pool.queue


def test_a_tick_never_waits_behind_a_slow_handler():
    pool = pool_of(1)
    pool.submit(request("slow", b"report"), 0)
    assert pool.place_tick(request("tick", b"tick"), 0) is None


def test_requeue_puts_unstarted_requests_back_at_the_head_in_order():
    pool = pool_of(2, pipeline=3)
    for name in "abcdef":
        pool.submit(request(name), 0)
    pool.submit(request("g"), 0)
    dead = pool.remove(b"w0")
    assert [r.origin for r in dead.held] == ["a", "c", "e"]
    assert pool.requeue(list(dead.held)[1:], 1.0) == []  # no idle worker
    assert [r.origin for r in pool.queue] == ["c", "e", "g"]
    assert all(r.seq == 0 for r in pool.queue)
    _, _, taken = pool.done(b"w1", 1, 2.0)
    assert [r.origin for r in taken] == ["c"]


def test_requeue_to_an_idle_worker():
    pool = pool_of(2, pipeline=2)
    for name in "abc":
        pool.submit(request(name), 0)
    pool.done(b"w1", 1, 0)
    dead = pool.remove(b"w0")
    taken = pool.requeue(list(dead.held)[1:], 1.0)
    assert [(w.ident, r.origin, r.seq) for w, r in taken] == [(b"w1", "c", 2)]


def test_abandon_takes_the_running_request_and_leaves_the_rest_for_the_journal():
    pool = pool_of(1, pipeline=3)
    for name in "abc":
        pool.submit(request(name), 0)
    assert pool.abandon(b"w0").origin == "a"
    worker = pool.workers[b"w0"]
    assert (worker.state, held(pool, b"w0")) == (State.STOPPING, ["b", "c"])
    assert pool.submit(request("d"), 0) is None  # nothing more goes to it
    assert pool.done(b"w0", 2, 1)[2] == []  # an answer it sent before it died still counts
    assert held(pool, b"w0") == ["c"] and worker.state is State.STOPPING


def test_a_retired_worker_runs_everything_it_holds_then_stops():
    pool = pool_of(2, pipeline=3)
    for name in "abcd":
        pool.submit(request(name), 0)
    assert pool.retire(b"w0") is False
    assert pool.workers[b"w0"].state is State.RETIRING
    pool.submit(request("e"), 0)
    assert held(pool, b"w1") == ["b", "d", "e"]
    assert pool.done(b"w0", 1, 0)[0].state is State.RETIRING
    assert pool.done(b"w0", 2, 0)[0].state is State.STOPPING


def test_no_prefetch_past_the_job_cap():
    pool = Pool(0, 60.0, pipeline=4, prefetch_below=0.005)
    for _ in range(4):
        pool.durations.record(b"echo", 0.0001)
    for name in (b"a", b"b"):
        pool.add(0, name, 0, limits=(2, 3))
        pool.ready(name, 1, 0)
    for name in "1234":
        pool.submit(request(name), 0)
    assert (held(pool, b"a"), held(pool, b"b")) == (["1", "3"], ["2", "4"])
    assert pool.submit(request("5"), 0) is None
    pool.done(b"a", 1, 0)
    assert pool.done(b"a", 2, 0)[0].state is State.STOPPING


def test_a_callers_deadline_drops_a_request_before_it_starts():
    pool = pool_of(1, pipeline=1)
    pool.submit(request("running"), 0)
    pool.submit(request("gave-up", deadline=1.0), 0)
    pool.submit(request("waits", deadline=9.0), 0)
    _, _, taken = pool.done(b"w0", 1, 2.0)
    assert [r.origin for r in taken] == ["waits"]
    assert [r.origin for r in pool.take_expired()] == ["gave-up"]
    assert pool.take_expired() == []


def test_queue_bounds_by_count_and_bytes():
    pool = pool_of(1, pipeline=1, max_queue_size=2, max_queue_bytes=100)
    pool.submit(request("running"), 0)
    pool.submit(request("a", size=60), 0)
    with pytest.raises(QueueFullError, match="max_queue_bytes"):
        pool.submit(request("b", size=60), 0)
    pool.submit(request("c", size=40), 0)
    with pytest.raises(QueueFullError, match="max_queue_size"):
        pool.submit(request("d"), 0)
    assert [r.origin for r in pool.drop(lambda r: r.origin != "a")] == ["a"]
    assert pool.queued_bytes == 40 and [r.origin for r in pool.queue] == ["c"]


def test_durations_trust_a_handler_after_a_few_calls_and_follow_its_p90():
    durations = Durations(0.005)
    for _ in range(3):
        durations.record(b"h", 0.001)
    assert b"h" not in durations.fast
    durations.record(b"h", 0.001)
    assert b"h" in durations.fast
    durations.record(b"h", 0.5)  # one slow call in twenty keeps p90 under the bar
    assert b"h" in durations.fast
    for _ in range(3):
        durations.record(b"h", 0.5)
    assert b"h" not in durations.fast
    durations.record(b"chunk", 0.064, count=64)  # a chunk is judged per body
    assert durations.snapshot()["chunk"]["slow_share"] == 0.0
