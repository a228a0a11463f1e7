"""The worker side of the master: requests on their way to workers, answers, and deaths.

Requests given to a worker within one loop turn leave as one message (`flush`).
Answers come back one by one, in the order sent. When a worker dies, its journal
(`supervisor.worker.journal`) settles what it held: an answer it recorded is
delivered, a request it started ends in `WorkerLost`, and the ones it never
started go back to the head of the queue, so no request ever runs twice.
"""

from __future__ import annotations

import logging
import struct
import time
from typing import Protocol

import zmq

from supervisor import wire
from supervisor.config import Config
from supervisor.config.values import counted
from supervisor.errors import EXIT_CONFIG, ExecTimeout, NotRunning, WorkerLost
from supervisor.lifecycle.service import Service
from supervisor.lifecycle.slots import Workers
from supervisor.lifecycle.spawn import exit_text
from supervisor.master.logs import log_handler_error
from supervisor.ops.operations import Operations
from supervisor.pool.allocator import Pool, Request, Worker
from supervisor.pool.recycling import exec_deadline, should_prespawn
from supervisor.pool.states import UP, State
from supervisor.worker import journal
from supervisor.worker.runner import MOST_PER_MESSAGE


class Master(Protocol):
    """What the worker side needs of the master (`supervisor.master.loop.Master`)."""

    config: Config
    pool: Pool
    workers: Workers
    ops: Operations
    services: list[Service]
    stopping: bool
    ready_announced: bool
    exit_code: int
    max_jobs: int

    def stop(self, graceful: bool) -> None: ...


def _frame(request: Request) -> bytes:
    """A request made by the master (a tick) or read from wire version 1, as a v2 frame."""
    return wire.request(wire.CHUNK if request.chunk else wire.CALL, 0, request.handler,
                        request.body, 0, request.context)

log = logging.getLogger("supervisor.master")

_DONE = wire.DONE
_DONE_KIND = ord("d")
NOBLOCK = wire.NOBLOCK


class Backend:
    """Dispatches requests to workers and turns their messages and exits into answers."""

    def __init__(self, master: Master, socket: zmq.Socket) -> None:
        self.master = master
        self.socket = socket
        self.pool = master.pool
        self.outbox: dict[bytes, list[Request]] = {}

    # --- requests on their way ---

    def dispatch(self, ident: bytes, request: Request) -> None:
        """`request` goes to worker `ident` with this turn's others (see `flush`)."""
        waiting = self.outbox.get(ident)
        if waiting is None:
            self.outbox[ident] = [request]
        else:
            waiting.append(request)

    def dispatch_all(self, pairs: list[tuple[Worker, Request]]) -> None:
        for worker, request in pairs:
            self.dispatch(worker.ident, request)

    def flush(self) -> None:
        """Send each worker the requests it was given this turn, as one message."""
        outbox, self.outbox = self.outbox, {}
        for ident, requests in outbox.items():
            for start in range(0, len(requests), MOST_PER_MESSAGE):
                frames = [ident]
                for request in requests[start:start + MOST_PER_MESSAGE]:
                    frames.append(wire.job(request.seq, request.frame or _frame(request)))
                try:
                    wire.send(self.socket, frames, wire.NOBLOCK)
                except zmq.ZMQError as exc:
                    self._unreachable(ident, exc, requests[start:])
                    break

    def _unreachable(self, ident: bytes, exc: zmq.ZMQError, unsent: list[Request]) -> None:
        """A worker that cannot be sent to is replaced. The requests of the failed send never
        left (ZeroMQ refused the first frame), so they go to the head of the queue now; what
        it may have received before is settled by its journal when it exits."""
        log.warning("worker %s is unreachable (%s); replacing it", wire.shown(ident), exc)
        self.pool.take_back(ident, unsent)
        self.pool.retire(ident)
        self.master.workers.kill(ident)
        self.dispatch_all(self.pool.requeue(unsent, time.monotonic()))
        self.flush()

    # --- messages from workers ---

    def drain(self, budget: int) -> None:
        """Read up to `budget` messages from workers (an answer is one frame after the id)."""
        recv = self.socket.recv
        for count in range(budget):
            if count == 1 and not wire.more(self.socket):
                return  # the usual case when idle: cheaper than a failed recv
            try:
                ident = recv(NOBLOCK)
            except zmq.Again:
                return
            frame = recv(NOBLOCK, copy=False)
            frames = [ident, frame.bytes]
            while frame.more and len(frames) < 8:
                frame = recv(NOBLOCK, copy=False)
                frames.append(frame.bytes)
            while frame.more:  # nothing a worker sends is this long: drop the rest
                frame = recv(NOBLOCK, copy=False)
            try:
                self.on_message(frames)
            except Exception:
                log.exception("failed while handling a message from worker %s; the master "
                              "keeps running", wire.shown(ident))

    def on_message(self, frames: list[bytes]) -> None:
        ident, head = frames[0], frames[1]
        if len(frames) == 2 and len(head) >= _DONE.size and head[0] == _DONE_KIND:
            _, status, seq, micros = _DONE.unpack_from(head)
            self._on_done(ident, status, seq, micros / 1e6, memoryview(head)[_DONE.size:])
        elif head == wire.READY:
            self._on_ready(ident, frames[2:])
        elif head == wire.FATAL:
            self._on_fatal(ident, frames[2:])
        else:
            log.warning("unexpected message %r from worker %s", wire.shown(head[:32]),
                        wire.shown(ident))

    def _on_done(self, ident: bytes, status: int, seq: int, ran: float, body: bytes) -> None:
        now = time.monotonic()
        outcome = self.pool.done(ident, seq, now, ran)
        if outcome is None:
            return
        worker, finished, following = outcome
        for request in following:
            self.dispatch(ident, request)
        self._deliver(worker, finished, status, body, now)
        self._after_answer(worker)

    def _deliver(self, worker: Worker, request: Request, status: int, body: bytes,
                 now: float) -> None:
        """Hand an answer to its origin; `body` may be a view into the worker's message."""
        if status == wire.S_ERR:
            body = log_handler_error(worker.id, worker.pid, request.handler, bytes(body))
        elif status == wire.S_CHUNK:
            body = self._chunk_errors(worker, request, body)
        request.origin.answered(request, status != wire.S_ERR, body, now)

    @staticmethod
    def _chunk_errors(worker: Worker, request: Request, body: bytes) -> bytes:
        """Log the handler errors within a chunk's answers, as for single calls."""
        try:
            count = struct.unpack_from(">I", body)[0]
            if wire.S_ERR not in bytes(body[4:4 + count]):
                return body
            outcomes = wire.unpack_outcomes(bytes(body))
        except (wire.WireError, ValueError, struct.error):
            return body
        return wire.pack_outcomes([
            (status, log_handler_error(worker.id, worker.pid, request.handler, answer)
             if status == wire.S_ERR else answer) for status, answer in outcomes])

    def _after_answer(self, worker: Worker) -> None:
        master, ident = self.master, worker.ident
        if master.stopping and worker.state is State.READY:
            self.pool.retire(ident)
        if worker.state is State.STOPPING:
            master.workers.stop(ident)
            if not master.stopping:
                self._send_handed(master.workers.hand_over(ident, time.monotonic(),
                                                           f"{worker.jobs} jobs done"))
                if not self.pool.serving():
                    log.warning("no worker is serving: every one is being replaced")
        elif master.max_jobs and not master.stopping and \
                not master.workers.replacing(ident) and \
                should_prespawn(worker, time.monotonic(), master.workers.startup):
            master.workers.replace(ident, time.monotonic(), f"{worker.jobs} of "
                                   f"{worker.max_jobs} jobs done (max_jobs {master.max_jobs})",
                                   standby=True)

    def _send_handed(self, handed: tuple[bytes, list[Request]] | None) -> None:
        """Send the requests a successor took over when it started serving, if any."""
        if handed is not None:
            for request in handed[1]:
                self.dispatch(handed[0], request)

    def _on_ready(self, ident: bytes, rest: list[bytes]) -> None:
        master = self.master
        try:
            pid = int(wire.load_json(rest[0])["pid"])
        except (wire.WireError, ValueError, KeyError, TypeError, IndexError, OverflowError):
            log.warning("malformed ready message from worker %s", wire.shown(ident))
            return
        outcome = self.pool.ready(ident, pid, time.monotonic())
        if outcome is None:
            return
        worker, requests = outcome
        if worker.state is State.STOPPING:
            master.workers.stop(ident)
            return
        master.workers.on_ready(worker)
        for request in requests:
            self.dispatch(ident, request)
        if master.stopping and self.pool.retire(ident):
            master.workers.stop(ident)
        if not master.ready_announced and self.pool.count(*UP) >= master.config.pool.num_workers:
            master.ready_announced = True
            log.info("pool ready: %s", counted(master.config.pool.num_workers, "worker"))
            for service in master.services:
                service.pool_ready(time.monotonic())

    def _on_fatal(self, ident: bytes, rest: list[bytes]) -> None:
        master = self.master
        try:
            info = wire.load_json(rest[0])
            key, error = str(info["key"]), str(info["error"])
            trace = str(info.get("traceback") or "")
        except (wire.WireError, KeyError, TypeError, IndexError, AttributeError):
            key, error, trace = "handlers", "a worker failed to load its handlers", ""
        if master.stopping or not master.workers.issued(ident):  # not from a worker of ours
            return
        if not master.ready_announced:
            log.critical("%s: %s: %s%s", master.config.path, key, error, trace and "\n" + trace)
            master.exit_code = EXIT_CONFIG
            master.stop(graceful=False)
        else:
            master.workers.on_fatal(ident, f"{key}: {error}")

    # --- deaths ---

    def on_exit(self, ident: bytes) -> None:
        master = self.master
        now = time.monotonic()
        worker, code = master.workers.on_exit(ident, now, restart=not master.stopping)
        master.ops.stacks.forget(ident)
        self.outbox.pop(ident, None)
        path = journal.path_for(master.config.run_dir, ident)
        if worker is not None and not master.stopping:
            self._send_handed(master.workers.activate_standby(worker.id, now))
        if worker is not None and worker.held:
            self._settle(worker, code, journal.read(path), now)
        journal.remove(path)
        if master.stopping and not master.workers.processes:
            self.refuse_queued(NotRunning, "the master stopped")

    def _settle(self, worker: Worker, code: object,
                record: tuple[int, dict[int, tuple[int, bytes]]], now: float) -> None:
        """What a dead worker held: answered from its journal, lost, or back to the queue."""
        started, answers = record
        unstarted, recovered, lost = [], 0, 0
        for request in worker.held:
            request.started = request.started or now  # held behind one whose answer was lost
            if request.seq in answers:
                status, body = answers[request.seq]
                self._deliver(worker, request, status, body, now)
                recovered += 1
            elif request.seq <= started:
                lost += 1
                self.fail(request, WorkerLost, f"worker {worker.id} (pid {worker.pid}) "
                          f"{exit_text(code)} " + ("while running this request"
                                                   if request.seq == started else
                                                   "after running this request; its answer "
                                                   "was lost"))
            else:
                unstarted.append(request)
        worker.held.clear()
        log.info("worker %d (pid %s) exited holding %d requests: %d answered from its journal, "
                 "%d lost, %d not started", worker.id, worker.pid,
                 recovered + lost + len(unstarted), recovered, lost, len(unstarted))
        if not unstarted:
            return
        if self.master.stopping:
            for request in unstarted:
                self.fail(request, NotRunning, "the master stopped before this request started")
            return
        self.dispatch_all(self.pool.requeue(unstarted, now))

    def cut_off_overdue(self, now: float, exec_ttl: float) -> None:
        """exec_ttl is hard: answer ExecTimeout, kill the worker; its slot restarts."""
        for worker in self.pool.busy():
            deadline = exec_deadline(worker, exec_ttl)
            if deadline is None or now < deadline:
                continue
            request = self.pool.abandon(worker.ident)
            self.fail(request, ExecTimeout, f"the handler ran longer than exec_ttl {exec_ttl:g}s")
            self.master.ops.hung(worker, request, exec_ttl, now,
                                 lambda ident=worker.ident: self.master.workers.kill(ident))

    # --- failing requests ---

    @staticmethod
    def fail(request: Request, error: type, message: str) -> None:
        request.origin.failed(request, error.code, message)

    def refuse_queued(self, error: type, message: str) -> None:
        for request in self.pool.drain_queue():
            self.fail(request, error, message)

    def fail_expired(self) -> None:
        """Requests whose caller stopped waiting before a worker was free: never run."""
        for request in self.pool.take_expired():
            self.fail(request, ExecTimeout, "the caller's timeout passed before a worker was "
                      "free; the request did not run")
