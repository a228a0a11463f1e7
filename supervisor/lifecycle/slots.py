"""Worker process lifecycle: slots, spawning, stopping, replacement and restart backoff.

A slot is a worker id (0..N-1); its process changes over time (crash, reset,
recycle) but the id stays, so `SUPERVISOR_WORKER_ID` is reused by replacements.
Which worker runs which request is not decided here but in `supervisor.pool`.

A worker is in the pool (starting) from the moment it is asked for; its process is
started off the loop and known once `on_launched` hears of it (see
`supervisor.lifecycle.processes`, which also kills what a handler started).
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from typing import Any

import psutil
import zmq

from supervisor import wire
from supervisor.config import Config
from supervisor.config.values import counted
from supervisor.lifecycle.processes import Processes
from supervisor.lifecycle.spawn import exit_text
from supervisor.pool.allocator import Pool, State, Worker
from supervisor.pool.backoff import Backoff
from supervisor.pool.recycling import job_limits, soft_reason, start_deadline
from supervisor.worker import journal
from supervisor.worker.diagnostics import stacks_path
from supervisor.worker.main import WorkerSpec
from supervisor.worker.main import main as worker_main

log = logging.getLogger("supervisor.workers")

# A worker that exits by itself sooner than this after becoming ready counts as failing
# to start; one killed by a signal is replaced at once.
MIN_HEALTHY_LIFETIME = 1.0


class Workers:
    def __init__(self, config: Config, pool: Pool, backend: zmq.Socket, poller: zmq.Poller,
                 count_restart: Callable[[str, str], None]) -> None:
        """`count_restart(reason, detail)` is told why each replacement starts (for metrics)."""
        self.config = config
        self.pool = pool
        self.backend = backend
        self.poller = poller
        self.size = config.pool.num_workers
        self.procs = Processes(config.pool.start_method, poller, self.on_launched)
        self.processes = self.procs.by_ident
        self.sentinels = self.procs.sentinels
        self.launcher = self.procs.launcher
        self.slots: dict[int, bytes] = {}
        self.pending: dict[int, float] = {}
        self.outgoing: dict[int, set[bytes]] = {}
        self.backoff = Backoff()
        self._count = count_restart
        self.startup = 0.1
        self.last_failure = ""
        self.sequence = 0
        self.overdue: set[bytes] = set()
        self.closing = False

    @property
    def degraded(self) -> bool:
        return self.backoff.failing() > 0

    # --- starting ---

    def start_all(self, now: float) -> None:
        for worker_id in range(self.size):
            self._spawn(worker_id, now)

    def _spawn(self, worker_id: int, now: float, standby: bool = False) -> bytes:
        self.sequence += 1
        ident = f"{worker_id}.{self.sequence}".encode()
        journal_path = journal.path_for(self.config.run_dir, ident)
        spec = WorkerSpec(worker_id, ident, self.config.worker_endpoint, self.config.log_endpoint,
                          self.config.handlers, self.config.interceptors, self.config.log.level,
                          str(self.config.base_dir), self.config.import_path,
                          stacks_path(self.config.run_dir, ident), str(journal_path),
                          self.config.limits.message_size)
        self.pool.add(worker_id, ident, now, job_limits(self.config.pool.max_jobs), standby)
        self.procs.start(ident, worker_main, (spec,), f"worker-{worker_id}",
                         prepare=lambda: journal.create(journal_path))  # off the loop too
        self.slots[worker_id] = ident
        return ident

    def on_launched(self, now: float) -> None:
        """The launcher finished starts: watch each new process, or retry a start that failed."""
        for launched in self.procs.launched():
            ident, process = launched.ident, launched.process
            if process is None:
                self._not_started(ident, launched.error, now)
                continue
            worker = self.pool.workers.get(ident)
            if worker is not None:
                worker.started = now  # when its process began, not when it was asked for
            log.debug("started worker %s (pid %d)", ident.decode(), process.pid)

    def _not_started(self, ident: bytes, error: str | None, now: float) -> None:
        """A start was cancelled (the worker was retired first) or failed: no process."""
        worker = self.pool.remove(ident)
        journal.remove(journal.path_for(self.config.run_dir, ident))
        if worker is None or error is None:
            return
        log.error("cannot start worker %d: %s", worker.id, error)
        if self.slots.get(worker.id) == ident and not self.closing:
            self.last_failure = f"cannot start a worker process: {error}"
            self._failed(worker, None, now)

    def exited(self, ident: bytes) -> bool:
        """Has `ident`'s process ended, though its exit is not handled yet?"""
        return self.procs.exited(ident)

    def next_start(self) -> float | None:
        """When a start is due: a slot's (re)start, or a start that overruns start_timeout."""
        due = min(self.pending.values()) if self.pending else None
        limit, launching = self.config.pool.start_timeout, self.procs.launching
        for ident, worker in self.pool.workers.items():  # every loop turn: kept cheap
            if worker.pid is None and ident not in self.overdue and ident not in launching:
                deadline = start_deadline(worker, limit)
                if deadline is not None and (due is None or deadline < due):
                    due = deadline
        return due

    def start_due(self, now: float) -> None:
        for worker_id, due in list(self.pending.items()):
            if due <= now:
                del self.pending[worker_id]
                self._spawn(worker_id, now)
        self._cut_off_slow_starts(now)

    def _cut_off_slow_starts(self, now: float) -> None:
        """pool.start_timeout: a worker still loading its handlers is killed and retried."""
        limit = self.config.pool.start_timeout
        for ident, worker in list(self.pool.workers.items()):
            due = start_deadline(worker, limit)
            if due is None or now < due or ident in self.overdue or ident in self.procs.launching:
                continue
            self.overdue.add(ident)
            self.last_failure = (f"did not become ready within pool.start_timeout {limit:g}s "
                                 "(stuck importing its handlers?)")
            log.warning("worker %d (pid %s) %s; killing it", worker.id,
                        self.processes[ident].pid, self.last_failure)
            self.kill(ident)

    def on_ready(self, worker: Worker) -> None:
        log.debug("worker %d ready (pid %d)", worker.id, worker.pid)
        self.launcher.release(worker.ident)
        self.startup = 0.8 * self.startup + 0.2 * max(0.0, worker.ready_at - worker.started)
        was_degraded = self.degraded
        self.backoff.succeeded(worker.id)
        if was_degraded and not self.degraded:
            log.info("pool healthy again: worker %d (pid %d) started", worker.id, worker.pid)
            self.last_failure = ""
        if self.slots.get(worker.id) == worker.ident:
            for old in self.outgoing.pop(worker.id, ()):
                if self.pool.retire(old):
                    self.stop(old)

    def issued(self, ident: bytes) -> bool:
        """Is `ident` one this master gave a worker, now or before? (A FATAL may come after
        its worker's exit was handled.)"""
        slot, _, sequence = ident.partition(b".")
        return slot.isdigit() and sequence.isdigit() and 0 < int(sequence) <= self.sequence

    def on_fatal(self, ident: bytes, message: str) -> None:
        """A worker could not load its handlers; the operator hears each new reason once.

        Its exit may be handled before this message arrives, so the reason is logged
        here when the pool already went degraded on a bare exit code.
        """
        if self.degraded and message != self.last_failure:
            log.error("workers fail at start: %s", message)
        self.last_failure = message

    # --- exits ---

    def on_exit(self, ident: bytes, now: float, restart: bool) -> tuple[Worker | None, Any]:
        """Reap a process that exited; schedule its slot's restart if still wanted."""
        code = self.procs.reap(ident)
        timed_out = ident in self.overdue  # killed by start_timeout: a failed start
        self.overdue.discard(ident)
        worker = self.pool.remove(ident)
        if worker is None:
            return None, code
        if self.slots.get(worker.id) != ident:
            self.outgoing.get(worker.id, set()).discard(ident)
            log.debug("worker %d (pid %s) left with code %s", worker.id, worker.pid, code)
            return worker, code
        if not restart:
            return worker, code
        if timed_out:
            self._failed(worker, code, now)
        elif worker.state is State.STOPPING:
            self._count("killed", f"worker {worker.id} (pid {worker.pid}) {exit_text(code)}")
            self.pending[worker.id] = now
        elif worker.pid is None or (code is not None and code >= 0
                                    and now - worker.ready_at < MIN_HEALTHY_LIFETIME):
            self._failed(worker, code, now)
        else:
            detail = f"worker {worker.id} (pid {worker.pid}) {exit_text(code)}"
            log.warning("worker %d (pid %s) exited unexpectedly (%s); restarting",
                        worker.id, worker.pid, exit_text(code))
            self._count("crashed", detail)
            self.pending[worker.id] = now
        return worker, code

    def _failed(self, worker: Worker, code: Any, now: float) -> None:
        was_degraded = self.degraded
        delay = self.backoff.failed(worker.id)
        reason = self.last_failure or exit_text(code)
        self._count("failed_start", f"worker {worker.id}: {reason}")
        if not was_degraded:
            log.error("pool degraded: worker %d fails at start (%s); retrying with backoff up to "
                      "%gs", worker.id, reason, self.backoff.cap)
        log.debug("worker %d failed at start (%s); next try in %.2fs", worker.id, reason, delay)
        self.pending[worker.id] = now + delay

    # --- stopping ---

    def stop(self, ident: bytes) -> None:
        """Ask an idle (STOPPING) worker to exit; it is killed if it cannot be reached."""
        try:
            self.backend.send(ident, zmq.SNDMORE)
            self.backend.send(wire.STOP)
        except zmq.ZMQError:
            self.procs.signal(ident, signal.SIGTERM)

    def stop_idle(self) -> None:
        """Start a graceful stop: idle workers go now, busy ones after the queue drains."""
        self.closing = True
        self.pending.clear()
        for ident, worker in list(self.pool.workers.items()):
            if worker.state in (State.STARTING, State.WARMING):
                self.pool.retire(ident)
                self.procs.signal(ident, signal.SIGTERM)
            elif worker.state in (State.READY, State.STANDBY) and not self.pool.queue and \
                    self.pool.retire(ident):
                self.stop(ident)

    def kill(self, ident: bytes) -> None:
        """Kill a worker and its process group; it leaves the pool's rotation first, so a
        READY message already on its way cannot hand it a request."""
        self.pool.retire(ident)
        self.procs.signal(ident, signal.SIGKILL)

    def kill_all(self) -> None:
        self.closing = True
        self.pending.clear()
        for ident in [*self.processes, *self.procs.launching]:
            self.kill(ident)

    def close(self, wait: float = 2.0) -> None:
        """The master exits: kill every worker, those still being started too, and reap them."""
        self.kill_all()
        self.procs.close(wait)

    # --- replacement ---

    def replace(self, ident: bytes, now: float, reason: str, standby: bool = False) -> None:
        """Start a successor in `ident`'s slot, so the pool never shrinks while it recycles.

        `ident` retires once the successor is ready; with `standby` (max_jobs) the
        successor instead waits, warm, until `ident` reaches its job cap (`hand_over`).
        A no-op when `ident` is no longer its slot's newest worker.
        """
        if self.replacing(ident):
            return
        worker = self.pool.workers[ident]
        log.log(logging.DEBUG if reason == "reset" else logging.INFO,  # a reset says it once
                "recycling worker %d (pid %s): %s", worker.id, worker.pid, reason)
        self._count("reset" if reason == "reset" else "recycled",
                    f"worker {worker.id} (pid {worker.pid}): {reason}")
        self.pending.pop(worker.id, None)
        if not standby:
            self.outgoing.setdefault(worker.id, set()).add(ident)
        self._spawn(worker.id, now, standby)

    def hand_over(self, ident: bytes, now: float, reason: str) -> tuple[bytes, Any] | None:
        """`ident` left service: its standby successor starts serving, or one is started.

        Returns the successor and the waiting request it took, for the master to send.
        """
        worker = self.pool.workers.get(ident)
        if worker is None:
            return None
        successor = self.slots.get(worker.id)
        if successor != ident and successor in self.pool.workers and \
                self.pool.workers[successor].standby:
            return successor, self.pool.activate(successor, now)
        self.replace(ident, now, reason)
        return None

    def activate_standby(self, worker_id: int, now: float) -> tuple[bytes, Any] | None:
        """The slot's standby successor starts serving (its predecessor is gone)."""
        ident = self.slots.get(worker_id)
        worker = self.pool.workers.get(ident)
        if worker is None or not worker.standby:
            return None
        return ident, self.pool.activate(ident, now)

    def _cancel_standby(self, worker_id: int) -> None:
        """Drop a slot's standby successor and give the slot back to its serving worker."""
        ident = self.slots.get(worker_id)
        standby = self.pool.workers.get(ident)
        if standby is None or not standby.standby:
            return
        serving = next((w for w in self.pool.workers.values() if w.id == worker_id
                        and w.ident != ident and w.state in (State.READY, State.WORKING)), None)
        if serving is None:
            return
        self.slots[worker_id] = serving.ident
        if self.pool.retire(ident):
            self.stop(ident)

    def replacing(self, ident: bytes) -> bool:
        """Has `ident`'s slot already moved on to a successor?"""
        worker = self.pool.workers.get(ident)
        return worker is None or self.slots.get(worker.id) != ident

    def watch(self, now: float) -> None:
        """Apply the soft limits (ttl, idle_ttl, max_worker_memory) to every worker."""
        measure = bool(self.config.pool.supervisor.max_worker_memory)
        for ident, worker in list(self.pool.workers.items()):
            rss = self.rss_mb(ident) if measure else None
            reason = soft_reason(worker, now, self.config.pool.supervisor, rss)
            if reason is not None:
                self.replace(ident, now, reason)

    def rss_mb(self, ident: bytes) -> float | None:
        process = self.processes.get(ident)
        try:
            return psutil.Process(process.pid).memory_info().rss / 2**20
        except (psutil.Error, AttributeError, ValueError):
            return None

    # --- operations ---

    def reset(self, now: float) -> None:
        """Replace every worker: each new one takes over before the old one is retired."""
        log.info("reset: replacing %s", counted(len(self.slots), "worker"))
        for worker_id in list(self.slots):
            self._cancel_standby(worker_id)
        for worker_id, ident in list(self.slots.items()):
            worker = self.pool.workers.get(ident)
            if worker is not None and worker.state not in (State.STARTING, State.WARMING):
                self.replace(ident, now, "reset")
                continue
            if worker is not None and worker.state is State.STARTING and \
                    self.procs.waiting(ident):
                continue  # not started yet: it will load the handlers as they are now
            if worker is not None:
                self.kill(ident)
            self.pending.pop(worker_id, None)
            self._spawn(worker_id, now)

    def scale(self, delta: int, now: float) -> None:
        if delta > 0:
            self._spawn(self.size, now)
            self.size += 1
        elif self.size > 1:
            self.size -= 1
            self.pending.pop(self.size, None)
            ident = self.slots.pop(self.size, None)
            if ident is not None and self.pool.retire(ident):
                self.stop(ident)
        log.info("pool size is now %d", self.size)
