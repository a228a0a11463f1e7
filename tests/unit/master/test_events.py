"""The master's event handling in-process: requests, replies, exits, stops, on fakes."""

from __future__ import annotations

import json
import signal

from supervisor import wire
from supervisor.config import Policy
from supervisor.errors import EXIT_CONFIG
from supervisor.ops.stacks import WAIT
from supervisor.pool.states import State
from supervisor.worker.diagnostics import DUMP_SIGNAL


def error_code(answer: tuple[bytes, bytes]) -> str:
    status, body = answer
    assert status == wire.ERR
    return json.loads(body)["code"]


def test_a_request_goes_to_an_idle_worker_and_its_answer_to_the_client(harness):
    h = harness()
    h.ready_all()
    h.request(b"r1", body=b"hello")
    (worker,) = [ident for ident in h.idents if h.backend.to(ident)]
    assert h.jobs(worker) == [(b"echo", b"hello")]
    h.reply(worker, b"HELLO")
    assert h.answers() == {b"r1": (wire.OK, b"HELLO")}
    assert h.master.pool.workers[worker].state is State.READY


def test_a_request_waits_for_a_worker_and_is_sent_when_one_answers(harness):
    h = harness(workers=1)
    h.ready_all()
    (worker,) = h.idents
    h.request(b"r1")
    h.request(b"r2")
    assert len(h.master.pool.queue) == 1
    h.reply(worker)
    assert h.jobs(worker) == [(b"echo", b"x"), (b"echo", b"x")]
    assert list(h.answers()) == [b"r1"]


def test_an_unknown_handler_is_refused_without_reaching_a_worker(harness):
    h = harness()
    h.ready_all()
    h.request(b"r1", handler=b"nope")
    assert error_code(h.answers()[b"r1"]) == "BadRequest"
    assert h.backend.sent == []


def test_a_malformed_request_is_answered_bad_request(harness):
    h = harness()
    h.master.clients.on_request([b"client", b"r1", b"echo"])
    assert error_code(h.answers()[b"r1"]) == "BadRequest"


def test_a_full_queue_answers_queue_full(harness):
    h = harness(workers=1, max_queue_size=1)
    h.ready_all()
    for req_id in (b"r1", b"r2", b"r3"):
        h.request(req_id)
    assert error_code(h.answers()[b"r3"]) == "QueueFull"


def test_a_handler_error_reaches_the_client_and_is_counted(harness):
    h = harness(workers=1)
    h.ready_all()
    (worker,) = h.idents
    h.request(b"r1")
    h.reply(worker, wire.error_body("HandlerError", "boom", type="KeyError"), wire.ERR)
    assert error_code(h.answers()[b"r1"]) == "HandlerError"
    assert h.master.ops.metrics.requests["echo", "HandlerError"] == 1


def test_a_worker_dying_mid_request_fails_only_that_request_and_restarts(harness, children):
    h = harness(workers=1)
    h.ready_all()
    (worker,) = h.idents
    h.request(b"r1")
    h.request(b"r2")
    h.exit(worker, -signal.SIGSEGV)
    assert error_code(h.answers()[b"r1"]) == "WorkerLost"
    assert b"r2" not in h.answers() and len(h.master.pool.queue) == 1
    assert h.master.workers.pending == {0: h.master.workers.pending[0]}
    assert h.master.ops.metrics.restarts["crashed"] == 1


def test_graceful_stop_refuses_new_requests_and_stops_idle_workers(harness):
    h = harness()
    h.ready_all()
    h.master.stop(graceful=True)
    h.request(b"late")
    assert error_code(h.answers()[b"late"]) == "NotRunning"
    assert all(h.backend.to(ident) == [[wire.STOP]] for ident in h.idents)


def test_graceful_stop_lets_running_requests_finish(harness):
    h = harness(workers=1)
    h.ready_all()
    (worker,) = h.idents
    h.request(b"r1")
    h.master.stop(graceful=True)
    h.reply(worker)
    assert h.answers()[b"r1"] == (wire.OK, b"done")
    assert h.backend.to(worker)[-1] == [wire.STOP]


def test_immediate_stop_kills_workers_and_refuses_the_queue(harness, children):
    h = harness(workers=1)
    h.ready_all()
    h.request(b"r1")
    h.request(b"r2")
    h.master.stop(graceful=False)
    assert error_code(h.answers()[b"r2"]) == "NotRunning"
    assert children.signalled(signal.SIGKILL) == [p.pid for p in children.processes]


def test_exec_ttl_answers_exec_timeout_and_kills_the_worker(harness, children):
    h = harness(workers=1, policy=Policy(exec_ttl=1.0))
    h.ready_all()
    (worker,) = h.idents
    h.request(b"r1")
    started = h.master.pool.workers[worker].request.started
    h.master._on_timers(started + 1.5)
    assert error_code(h.answers()[b"r1"]) == "ExecTimeout"
    pid = children.processes[0].pid
    assert children.signalled(DUMP_SIGNAL) == [pid] and children.signalled(signal.SIGKILL) == []
    assert h.master._next_deadline() == started + 1.5 + WAIT  # time to write the stacks
    h.master.ops.stacks.due(started + 1.5 + WAIT)
    assert children.signalled(signal.SIGKILL) == [pid]


def test_allocate_timeout_answers_no_free_workers(harness):
    h = harness(workers=1, allocate_timeout=5.0)
    h.ready_all()
    h.request(b"r1")
    h.request(b"r2")
    arrived = h.master.pool.queue[0].arrived
    h.master._on_timers(arrived + 6.0)
    assert error_code(h.answers()[b"r2"]) == "NoFreeWorkers"


def test_a_handler_load_failure_before_ready_stops_with_the_config_exit_code(harness):
    h = harness()
    h.master.backend_link.on_message([h.idents[0], wire.FATAL,
                         json.dumps({"key": "handlers.echo", "error": "no module"}).encode()])
    assert h.master.stopping and h.master.exit_code == EXIT_CONFIG


def test_malformed_ready_messages_change_nothing(harness):
    h = harness()
    for junk in (b"not json", b"[" * 1000, b'{"pid": "x"}', b"{}"):
        h.master.backend_link.on_message([h.idents[0], wire.READY, junk])
    assert h.master.pool.workers[h.idents[0]].state is State.STARTING
    assert not h.master.ready_announced


def test_the_pool_is_announced_ready_once_every_worker_is(harness):
    h = harness()
    h.ready(h.idents[0])
    assert not h.master.ready_announced
    h.ready(h.idents[1])
    assert h.master.ready_announced


def test_reset_starts_successors_and_retires_each_old_worker_once_its_successor_is_ready(
        harness):
    h = harness()
    h.ready_all()
    old = h.idents
    h.master.reset()
    new = [ident for ident in h.idents if ident not in old]
    assert len(new) == 2
    for ident in new:
        h.ready(ident)
    assert all(h.backend.to(ident) == [[wire.STOP]] for ident in old)
    assert all(h.master.pool.workers[ident].state is State.STOPPING for ident in old)


def test_scale_adds_and_removes_slots(harness):
    h = harness()
    h.ready_all()
    h.master.scale(+2)
    assert h.master.workers.size == 4 and len(h.idents) == 4
    h.master.scale(-3)
    assert h.master.workers.size == 1


def test_an_unreachable_worker_hands_its_request_to_another(harness, children):
    h = harness()
    h.ready_all()
    first, second = h.idents
    h.backend.unreachable.add(h.master.pool.idle[0].ident)
    h.request(b"r1")
    assert h.jobs(second if h.backend.unreachable == {first} else first) == [(b"echo", b"x")]
    assert children.signalled(signal.SIGKILL)
