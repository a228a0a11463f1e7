"""Allocation: which worker runs which request, and what waits. No I/O here.

Like RoadRunner's static pool, a worker runs one request at a time. It may also
hold up to `pipeline - 1` more, sent ahead so it never idles for a round trip
between requests (prefetch), under one rule that bounds head-of-line blocking:
a request is only sent ahead while no worker is idle, and only behind handlers
measured fast (`supervisor.pool.prefetch`). Requests that find no place wait in
FIFO order, bounded by `max_queue_size`, `allocate_timeout` and their caller's own
deadline. Processes are started and stopped by `supervisor.lifecycle`; the master
feeds this state machine events and performs the I/O its answers call for. Every
state change goes through `states.move`.
"""

from __future__ import annotations

from collections import deque

from supervisor.pool.prefetch import Durations
from supervisor.pool.records import Origin, Request, Worker
from supervisor.pool.states import BUSY, State, move

__all__ = ["Origin", "Pool", "QueueFullError", "Request", "State", "Worker"]


class QueueFullError(Exception):
    pass


class Pool:
    """Workers by identity, the idle FIFO, the wait queue and the prefetch rule.

    The methods that give requests to workers return them as (worker, request)
    pairs or lists for the master to send; each has its `seq` set.
    """

    def __init__(self, max_queue_size: int, allocate_timeout: float, *, pipeline: int = 1,
                 prefetch_below: float = 0.0, max_queue_bytes: int = 0) -> None:
        """Limits come from `PoolConfig`; 0 means unbounded. Left out, nothing is held at a
        worker beyond the request it runs (`pipeline` 1, no handler counts as fast)."""
        self.max_queue_size = max_queue_size
        self.max_queue_bytes = max_queue_bytes
        self.allocate_timeout = allocate_timeout
        self.pipeline = pipeline
        self.durations = Durations(prefetch_below)
        self.workers: dict[bytes, Worker] = {}
        self.idle: deque[Worker] = deque()
        self.queue: deque[Request] = deque()
        self.queued_bytes = 0
        self.expired: list[Request] = []

    # --- workers come and go ---

    def add(self, worker_id: int, ident: bytes, now: float,
            limits: tuple[int, int] = (0, 0), standby: bool = False) -> Worker:
        """A worker whose process was just started; `limits` are its job cap and ceiling.

        A `standby` worker, once ready, takes no request until `activate()`: it is
        the warm successor of a worker that will reach its job cap.
        """
        worker = Worker(worker_id, ident, now, State.WARMING if standby else State.STARTING,
                        max_jobs=limits[0], job_ceiling=limits[1])
        self.workers[ident] = worker
        return worker

    def ready(self, ident: bytes, pid: int, now: float) -> tuple[Worker, list[Request]] | None:
        """A started worker announced itself; it takes the oldest waiting requests if any.

        One retired while it was starting stays STOPPING and takes nothing.
        """
        worker = self.workers.get(ident)
        if worker is None or worker.pid is not None or \
                worker.state not in (State.STARTING, State.WARMING, State.STOPPING):
            return None
        worker.pid = pid
        worker.last_active = worker.ready_at = now
        if worker.state is State.STOPPING:
            return worker, []
        if worker.state is State.WARMING:
            move(worker, State.STANDBY)
            return worker, []
        return worker, self._free(worker, now)

    def activate(self, ident: bytes, now: float) -> list[Request]:
        """A standby worker starts serving: the oldest waiting requests, if any, are its."""
        worker = self.workers.get(ident)
        if worker is None or not worker.standby:
            return []
        if worker.state is State.WARMING:
            move(worker, State.STARTING)
            return []
        return self._free(worker, now)

    def remove(self, ident: bytes) -> Worker | None:
        """The worker's process is gone; what it held is on it, in order."""
        worker = self.workers.pop(ident, None)
        if worker is not None and worker.state is State.READY:
            self.idle.remove(worker)
        return worker

    def retire(self, ident: bytes) -> bool:
        """Take a worker out of rotation; True when it holds nothing and can be stopped now.

        A worker still holding requests runs them all (none is taken back, so
        none can run twice), then stops.
        """
        worker = self.workers.get(ident)
        if worker is None or worker.state in (State.STOPPING, State.RETIRING):
            return False
        if worker.state is State.WORKING:
            move(worker, State.RETIRING)
            return False
        if worker.state is State.READY:
            self.idle.remove(worker)
        move(worker, State.STOPPING)
        return True

    # --- requests come and go ---

    def submit(self, request: Request, now: float) -> Worker | None:
        """The worker that should get `request` now, or None when it was queued."""
        if not self.queue:
            if self.idle:
                worker = self.idle.popleft()
                self._assign(worker, request, now)
                return worker
            worker = self._room(request, self.pipeline)
            if worker is not None:
                self._hold(worker, request)
                return worker
        if self.max_queue_size and len(self.queue) >= self.max_queue_size:
            raise QueueFullError(f"{len(self.queue)} requests already waiting "
                                 f"(pool.max_queue_size {self.max_queue_size})")
        if self.max_queue_bytes and self.queued_bytes + request.size > self.max_queue_bytes:
            raise QueueFullError(f"{self.queued_bytes} bytes already waiting "
                                 f"(pool.max_queue_bytes {self.max_queue_bytes})")
        self.queue.append(request)
        self.queued_bytes += request.size
        return None

    def place_tick(self, request: Request, now: float) -> Worker | None:
        """A worker for a tick now, or None: ticks never wait in the queue.

        A tick may go behind fast requests even on a worker holding a full
        pipeline (one place beyond it is kept for ticks), so a flood of fast
        requests does not starve a schedule.
        """
        if self.idle:
            worker = self.idle.popleft()
            self._assign(worker, request, now)
            return worker
        worker = self._room(request, self.pipeline + 1)
        if worker is not None:
            self._hold(worker, request)
        return worker

    def done(self, ident: bytes, seq: int, now: float,
             ran: float | None = None) -> tuple[Worker, Request, list[Request]] | None:
        """A worker answered request `seq` (whose handler ran `ran` seconds, as the worker
        measured it): that request, and the ones the worker now takes on."""
        worker = self.workers.get(ident)
        if worker is None:
            return None
        held = worker.held
        if not held or held[0].seq != seq:
            return None
        finished = held.popleft()
        self._release(worker, finished)
        worker.jobs += finished.count
        worker.last_active = now
        self.durations.record(finished.handler, now - finished.started if ran is None else ran,
                              finished.count)
        if held:
            held[0].started = now
        state = worker.state
        if state is State.STOPPING:  # abandoned: its process is being killed
            return worker, finished, []
        if state is State.RETIRING or (worker.max_jobs and self._capped(worker)):
            if not held:
                move(worker, State.STOPPING)
            elif state is not State.RETIRING:
                move(worker, State.RETIRING)
            return worker, finished, []
        if held and not self.queue:
            return worker, finished, []
        return worker, finished, self._free(worker, now)

    def _capped(self, worker: Worker) -> bool:
        """At its job cap; the last serving worker may go on up to its ceiling while
        its successor starts, so recycling never leaves the pool with nobody serving."""
        if not worker.max_jobs or worker.jobs < worker.max_jobs:
            return False
        return worker.jobs >= worker.job_ceiling or self.serving() > 1

    def abandon(self, ident: bytes) -> Request | None:
        """Take back the request a worker runs (it is about to be killed).

        What it holds behind that request stays on it: once the process is gone,
        its start marks tell which of those started (`remove`).
        """
        worker = self.workers.get(ident)
        if worker is None or not worker.held or worker.state is State.STOPPING:
            return None
        request = worker.held.popleft()
        self._release(worker, request)
        move(worker, State.STOPPING)
        return request

    def take_back(self, ident: bytes, requests: list[Request]) -> None:
        """`requests`, the last `ident` was given, never reached it: it holds them no more."""
        worker = self.workers.get(ident)
        if worker is None:
            return
        for request in requests:
            if request in worker.held:
                worker.held.remove(request)
                self._release(worker, request)
        if not worker.held and worker.state in (State.WORKING, State.RETIRING):
            move(worker, State.STOPPING)

    def requeue(self, requests: list[Request], now: float) -> list[tuple[Worker, Request]]:
        """Requests a dead worker held but never started: back to the head of the queue.

        Returns those that idle workers take at once.
        """
        for request in reversed(requests):
            request.seq = 0
            self.queue.appendleft(request)
            self.queued_bytes += request.size
        taken = []
        while self.idle and self.queue:
            worker = self.idle.popleft()
            taken += [(worker, request) for request in self._free(worker, now)]
        return taken

    def expire(self, now: float) -> list[Request]:
        """Waiting requests older than allocate_timeout, removed from the queue."""
        expired = []
        limit = now - self.allocate_timeout
        while self.queue and self.queue[0].arrived <= limit:
            expired.append(self._pop())
        return expired

    def take_expired(self) -> list[Request]:
        """Requests whose caller's deadline passed before they could start (not run)."""
        expired, self.expired = self.expired, []
        return expired

    def drop(self, wanted) -> list[Request]:
        """Remove the waiting requests for which `wanted(request)` is false; return them."""
        kept, dropped = deque(), []
        for request in self.queue:
            (kept if wanted(request) else dropped).append(request)
        if dropped:
            self.queue = kept
            self.queued_bytes -= sum(r.size for r in dropped)
        return dropped

    def drain_queue(self) -> list[Request]:
        waiting, self.queue, self.queued_bytes = list(self.queue), deque(), 0
        return waiting

    def next_deadline(self) -> float | None:
        return self.queue[0].arrived + self.allocate_timeout if self.queue else None

    # --- views ---

    def count(self, *states: State) -> int:
        return sum(1 for worker in self.workers.values() if worker.state in states)

    def serving(self) -> int:
        """Workers that can take requests now or after their current one."""
        return sum(1 for w in self.workers.values() if w.state in (State.READY, State.WORKING))

    def busy(self) -> list[Worker]:
        """Workers running a request (a retiring one still runs what it holds)."""
        return [w for w in self.workers.values() if w.state in BUSY and w.held]

    def held(self) -> int:
        """Requests sent to workers and not answered yet."""
        return sum(len(w.held) for w in self.workers.values())

    # --- internals ---

    def _free(self, worker: Worker, now: float) -> list[Request]:
        """`worker` can take more: the oldest waiting requests up to what the rule allows."""
        taken = []
        queue, held, pipeline = self.queue, worker.held, self.pipeline
        while queue and len(held) < pipeline and (not held or self._may_prefetch(worker)):
            request = self._pop()
            if request.deadline and request.deadline <= now:
                self.expired.append(request)
                continue
            if held:
                self._hold(worker, request)
            else:
                self._assign(worker, request, now)
            taken.append(request)
        if not held:
            move(worker, State.READY)
            self.idle.append(worker)
        return taken

    def _pop(self) -> Request:
        self.queued_bytes -= self.queue[0].size
        return self.queue.popleft()

    @staticmethod
    def _may_prefetch(worker: Worker) -> bool:
        """Another request may wait behind everything `worker` holds: all of it is of
        handlers measured fast, and it stays within the worker's job cap."""
        return worker.state is State.WORKING and not worker.blocking and \
            not (worker.max_jobs and worker.jobs + worker.holding >= worker.max_jobs)

    def _room(self, request: Request, limit: int) -> Worker | None:
        """The serving worker holding fewest requests that `request` may wait behind."""
        best = None
        for worker in self.workers.values():
            if worker.state is State.WORKING and len(worker.held) < limit and \
                    (best is None or len(worker.held) < len(best.held)) and \
                    self._may_prefetch(worker):
                best = worker
        return best

    def _hold(self, worker: Worker, request: Request) -> None:
        """Send `request` ahead to a worker that is running another."""
        worker.sent += 1
        request.seq = worker.sent
        request.blocking = request.handler not in self.durations.fast
        worker.blocking += request.blocking
        worker.holding += request.count
        worker.held.append(request)

    def _assign(self, worker: Worker, request: Request, now: float) -> None:
        move(worker, State.WORKING)
        request.started = now
        self._hold(worker, request)

    @staticmethod
    def _release(worker: Worker, request: Request) -> None:
        worker.blocking -= request.blocking
        worker.holding -= request.count
