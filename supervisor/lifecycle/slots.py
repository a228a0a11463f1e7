"""Worker process lifecycle: slots, spawning, stopping, replacement and restart backoff.

A slot is a worker id (0..N-1); its process changes over time (crash, reset,
recycle) but the id stays, so `SUPERVISOR_WORKER_ID` is reused by replacements.
Which worker runs which request is not decided here but in `supervisor.pool`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
from collections.abc import Callable
from typing import Any

import psutil
import zmq

from supervisor import wire
from supervisor.config import Config
from supervisor.config.values import counted
from supervisor.lifecycle.spawn import exit_text, start_child
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
        self.processes: dict[bytes, Any] = {}
        self.sentinels: dict[int, bytes] = {}
        self.slots: dict[int, bytes] = {}
        self.pending: dict[int, float] = {}
        self.outgoing: dict[int, set[bytes]] = {}
        self.backoff = Backoff()
        self._count = count_restart
        self.startup = 0.1
        self.last_failure = ""
        self.sequence = 0
        self.overdue: set[bytes] = set()

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
        journal.create(journal_path)
        spec = WorkerSpec(worker_id, ident, self.config.worker_endpoint, self.config.log_endpoint,
                          self.config.handlers, self.config.interceptors, self.config.log.level,
                          str(self.config.base_dir), self.config.import_path,
                          stacks_path(self.config.run_dir, ident), str(journal_path),
                          self.config.limits.message_size)
        self.pool.add(worker_id, ident, now, job_limits(self.config.pool.max_jobs), standby)
        process = start_child(self.config.pool.start_method, worker_main, spec,
                              name=f"worker-{worker_id}")
        self.processes[ident] = process
        self.sentinels[process.sentinel] = ident
        self.poller.register(process.sentinel, zmq.POLLIN)
        self.slots[worker_id] = ident
        log.debug("started worker %d (pid %d)", worker_id, process.pid)
        return ident

    def exited(self, ident: bytes) -> bool:
        """Has `ident`'s process ended, though its exit is not handled yet? (one poll(2))"""
        process = self.processes.get(ident)
        return process is not None and bool(select.select([process.sentinel], [], [], 0)[0])

    def next_start(self) -> float | None:
        """When a start is due: a slot's (re)start, or a start that overruns start_timeout."""
        limit = self.config.pool.start_timeout
        due = [*self.pending.values(),
               *(start_deadline(w, limit) for i, w in self.pool.workers.items()
                 if i not in self.overdue)]
        return min((d for d in due if d is not None), default=None)

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
            if due is None or now < due or ident in self.overdue:
                continue
            self.overdue.add(ident)
            self.last_failure = (f"did not become ready within pool.start_timeout {limit:g}s "
                                 "(stuck importing its handlers?)")
            log.warning("worker %d (pid %s) %s; killing it", worker.id,
                        self.processes[ident].pid, self.last_failure)
            self.kill(ident)

    def on_ready(self, worker: Worker) -> None:
        log.debug("worker %d ready (pid %d)", worker.id, worker.pid)
        self.startup = 0.8 * self.startup + 0.2 * (worker.ready_at - worker.started)
        was_degraded = self.degraded
        self.backoff.succeeded(worker.id)
        if was_degraded and not self.degraded:
            log.info("pool healthy again: worker %d (pid %d) started", worker.id, worker.pid)
            self.last_failure = ""
        if self.slots.get(worker.id) == worker.ident:
            for old in self.outgoing.pop(worker.id, ()):
                if self.pool.retire(old):
                    self.stop(old)

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
        """Reap a process whose sentinel fired; schedule its slot's restart if still wanted."""
        process = self.processes.pop(ident)
        self.overdue.discard(ident)
        self.poller.unregister(process.sentinel)
        del self.sentinels[process.sentinel]
        process.join(1.0)
        code = process.exitcode
        process.close()
        worker = self.pool.remove(ident)
        if worker is None:
            return None, code
        if self.slots.get(worker.id) != ident:
            self.outgoing.get(worker.id, set()).discard(ident)
            log.debug("worker %d (pid %s) left with code %s", worker.id, worker.pid, code)
            return worker, code
        if not restart:
            return worker, code
        if worker.state is State.STOPPING:
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
            self._signal(ident, signal.SIGTERM)

    def stop_idle(self) -> None:
        """Start a graceful stop: idle workers go now, busy ones after the queue drains."""
        self.pending.clear()
        for ident, worker in list(self.pool.workers.items()):
            if worker.state in (State.STARTING, State.WARMING):
                self.pool.retire(ident)
                self._signal(ident, signal.SIGTERM)
            elif worker.state in (State.READY, State.STANDBY) and not self.pool.queue and \
                    self.pool.retire(ident):
                self.stop(ident)

    def kill(self, ident: bytes) -> None:
        self._signal(ident, signal.SIGKILL)

    def kill_all(self) -> None:
        self.pending.clear()
        for ident in list(self.processes):
            self.kill(ident)

    def _signal(self, ident: bytes, signum: int) -> None:
        process = self.processes.get(ident)
        if process is not None and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signum)

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
        log.info("recycling worker %d (pid %s): %s", worker.id, worker.pid, reason)
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
