"""Allocation: which worker runs which request, and what waits. No I/O here.

Like RoadRunner's static pool, a worker runs one request at a time; requests
that find no free worker wait in FIFO order, bounded by `max_queue_size` and
`allocate_timeout`. Processes are started and stopped by `supervisor.lifecycle`;
the master feeds this state machine events and performs the I/O its answers call
for. Every state change goes through `states.move`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol

from supervisor.pool.states import BUSY, State, move

__all__ = ["Origin", "Pool", "QueueFullError", "Request", "State", "Worker"]


class Origin(Protocol):
    """Whom a request answers to (a client, a tick): it knows how to deliver the outcome."""

    def answered(self, request: Request, ok: bool, body: bytes, now: float) -> None:
        """The handler returned (`ok`) or raised; `body` is its result or error."""

    def failed(self, request: Request, code: str, message: str) -> None:
        """The pool could not run the request to an answer (`code` names the typed error)."""


@dataclass(slots=True)
class Request:
    """A request on its way through the pool; `origin` says whom to answer."""

    origin: Origin
    handler: bytes
    body: bytes
    context: bytes
    arrived: float
    started: float = 0.0


@dataclass(slots=True)
class Worker:
    id: int
    ident: bytes
    started: float
    state: State = State.STARTING
    pid: int | None = None
    jobs: int = 0
    request: Request | None = None
    last_active: float = 0.0
    ready_at: float = 0.0
    max_jobs: int = 0
    job_ceiling: int = 0

    @property
    def standby(self) -> bool:
        """A warm successor that serves nothing until activated."""
        return self.state in (State.WARMING, State.STANDBY)

    @property
    def retiring(self) -> bool:
        """Out of rotation: stops once idle."""
        return self.state in (State.RETIRING, State.STOPPING)


class QueueFullError(Exception):
    pass


class Pool:
    """Workers by identity, the idle FIFO and the wait queue."""

    def __init__(self, max_queue_size: int, allocate_timeout: float) -> None:
        """`max_queue_size` 0 means unbounded (limits come from `PoolConfig`)."""
        self.max_queue_size = max_queue_size
        self.allocate_timeout = allocate_timeout
        self.workers: dict[bytes, Worker] = {}
        self.idle: deque[Worker] = deque()
        self.queue: deque[Request] = deque()

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

    def ready(self, ident: bytes, pid: int, now: float) -> tuple[Worker, Request | None] | None:
        """A started worker announced itself; it takes the oldest waiting request if any.

        One retired while it was starting stays STOPPING and takes nothing.
        """
        worker = self.workers.get(ident)
        if worker is None or worker.pid is not None or \
                worker.state not in (State.STARTING, State.WARMING, State.STOPPING):
            return None
        worker.pid = pid
        worker.last_active = worker.ready_at = now
        if worker.state is State.STOPPING:
            return worker, None
        if worker.state is State.WARMING:
            move(worker, State.STANDBY)
            return worker, None
        return worker, self._free(worker, now)

    def activate(self, ident: bytes, now: float) -> Request | None:
        """A standby worker starts serving: the oldest waiting request, if any, is its."""
        worker = self.workers.get(ident)
        if worker is None or not worker.standby:
            return None
        if worker.state is State.WARMING:
            move(worker, State.STARTING)
            return None
        return self._free(worker, now)

    def remove(self, ident: bytes) -> Worker | None:
        """The worker's process is gone; the request it was running (if any) is on it."""
        worker = self.workers.pop(ident, None)
        if worker is not None and worker.state is State.READY:
            self.idle.remove(worker)
        return worker

    def retire(self, ident: bytes) -> bool:
        """Take a worker out of rotation; True when it is idle and can be stopped now."""
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
        """The free worker that should run `request` now, or None when it was queued."""
        if self.idle:
            worker = self.idle.popleft()
            self._assign(worker, request, now)
            return worker
        if self.max_queue_size and len(self.queue) >= self.max_queue_size:
            raise QueueFullError(f"{len(self.queue)} requests already waiting")
        self.queue.append(request)
        return None

    def done(self, ident: bytes, now: float) -> tuple[Worker, Request, Request | None] | None:
        """A worker answered: the request it finished and the next one it now runs."""
        worker = self.workers.get(ident)
        if worker is None or worker.request is None:
            return None
        finished = worker.request
        worker.request = None
        worker.jobs += 1
        worker.last_active = now
        if worker.retiring or self._capped(worker):
            move(worker, State.STOPPING)
            return worker, finished, None
        return worker, finished, self._free(worker, now)

    def _capped(self, worker: Worker) -> bool:
        """At its job cap; the last serving worker may go on up to its ceiling while
        its successor starts, so recycling never leaves the pool with nobody serving."""
        if not worker.max_jobs or worker.jobs < worker.max_jobs:
            return False
        return worker.jobs >= worker.job_ceiling or self.serving() > 1

    def abandon(self, ident: bytes) -> Request | None:
        """Take back the request a worker is running (it is about to be killed)."""
        worker = self.workers.get(ident)
        if worker is None or worker.request is None:
            return None
        request, worker.request = worker.request, None
        move(worker, State.STOPPING)
        return request

    def expire(self, now: float) -> list[Request]:
        """Waiting requests older than allocate_timeout, removed from the queue."""
        expired = []
        limit = now - self.allocate_timeout
        while self.queue and self.queue[0].arrived <= limit:
            expired.append(self.queue.popleft())
        return expired

    def drain_queue(self) -> list[Request]:
        waiting = list(self.queue)
        self.queue.clear()
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
        """Workers running a request (a retiring one still runs its last)."""
        return [w for w in self.workers.values() if w.state in BUSY]

    def _free(self, worker: Worker, now: float) -> Request | None:
        if self.queue:
            request = self.queue.popleft()
            self._assign(worker, request, now)
            return request
        move(worker, State.READY)
        self.idle.append(worker)
        return None

    @staticmethod
    def _assign(worker: Worker, request: Request, now: float) -> None:
        move(worker, State.WORKING)
        worker.request = request
        request.started = now
