"""The master: one poll loop that wires socket, process and signal events to the pool.

The loop reads like a checklist: drain child logs, worker answers, worker exits, client
requests; send what that produced; then signals, services, timers, operations. Allocation
decisions live in `supervisor.pool`, processes in `supervisor.lifecycle`, the worker side of
requests in `supervisor.master.backend`, the client side in `supervisor.master.clients`,
helper services behind `supervisor.lifecycle.service`; signals and control commands call
the same public verbs (`stop`, `reset`, `scale`, `reopen_logs`).
"""

from __future__ import annotations

import gc
import logging
import os
import time

import zmq

from supervisor.config import Config
from supervisor.config.values import counted
from supervisor.errors import EXIT_FAILURE, EXIT_OK, NoFreeWorkers, NotRunning, StartupError
from supervisor.lifecycle.service import Service
from supervisor.lifecycle.slots import Workers
from supervisor.master import memory, rundir, services
from supervisor.master.backend import Backend
from supervisor.master.clients import Clients
from supervisor.master.events import drain, failed, guarded
from supervisor.master.logs import Logs
from supervisor.master.pidfile import PidFile
from supervisor.master.signals import SignalQueue
from supervisor.ops.operations import Operations, bind
from supervisor.pool.allocator import Pool, Request
from supervisor.pool.recycling import exec_deadline
from supervisor.worker import journal
from supervisor.worker.child import set_title

log = logging.getLogger("supervisor.master")

SIGNALS = ("TERM", "INT", "QUIT", "HUP", "TTIN", "TTOU", "USR1")
# Messages read from one socket per loop turn: enough to drain a burst in one wake-up, few
# enough that a flood of requests never keeps ticks, signals or the control socket waiting.
CLIENT_BUDGET = 64
BUDGET = 4096
# Slack above server.limits.message_size for a worker's answer: the error JSON around it.
_ANSWER_SLACK = 64 * 1024
# The largest frame a worker's log forwarding sends (64 KB chunks plus its tags).
_LOG_FRAME = 1 << 20


class Master:
    def __init__(self, config: Config, logs: Logs) -> None:
        self.config = config
        self.logs = logs
        self.pool = Pool(config.pool.max_queue_size, config.pool.allocate_timeout)
        self.signals: SignalQueue | None = None
        self.stopping = False
        self.stop_deadline: float | None = None
        self.exit_code = EXIT_OK
        self.ready_announced = False
        self.next_watch: float | None = None
        self.apply_limits()
        self.context = zmq.Context()
        self.poller = zmq.Poller()
        self.workers: Workers
        self.clients: Clients
        self.backend_link: Backend
        self.services: list[Service] = []
        self.service_sockets: dict[zmq.Socket, object] = {}
        self.unfinished = False  # the log socket was left with messages to read
        self.ops = Operations(self)

    # --- set-up and tear-down ---

    def run(self) -> int:
        set_title("supervisor: master")
        memory.return_large_blocks()
        pidfile = PidFile(self.config.run_dir / "supervisor.pid")
        rundir.prepare(self.config)
        pidfile.acquire()
        journal.remove_all(self.config.run_dir)
        try:
            self._bind()
            self.workers = Workers(self.config, self.pool, self.backend, self.poller,
                                   self.ops.metrics.restart)
            self.services.append(self.workers.launcher)  # a stop waits for the starts under way
            services.add_all(self)
            self.ops.start()
            self.signals = SignalQueue(SIGNALS)
            self.poller.register(self.signals.fileno(), zmq.POLLIN)
            self.workers.start_all(time.monotonic())
            self.apply_limits()
            log.info("master %d starting %s (%s) on %s", os.getpid(),
                     counted(self.config.pool.num_workers, "worker"),
                     self.config.pool.start_method, self.config.listen)
            gc.freeze()  # what start-up made lives on: collections need not walk it again
            self._loop()
        except StartupError:
            self.exit_code = EXIT_FAILURE
            raise
        except Exception as exc:
            failed(exc)
            self.exit_code = EXIT_FAILURE
        finally:
            self._reap_all()
            self._close()
            pidfile.release()
        log.info("master %d exited with code %d", os.getpid(), self.exit_code)
        return self.exit_code

    def _bind(self) -> None:
        limits = self.config.limits
        self.frontend = self.context.socket(zmq.ROUTER)
        self.backend = self.context.socket(zmq.ROUTER)
        self.child_logs = self.context.socket(zmq.PULL)
        for sock in (self.frontend, self.backend, self.child_logs):
            sock.linger = 0
            sock.sndhwm = sock.rcvhwm = 0
        # A body over the limit is refused with an error; a frame over twice the limit never
        # reaches the master: ZeroMQ drops its connection when it reads the frame's size.
        self.frontend.maxmsgsize = 2 * limits.message_size
        self.frontend.sndhwm = self.frontend.rcvhwm = limits.client_hwm
        self.frontend.router_mandatory = 1  # a full or closed client connection is known
        self.frontend.heartbeat_ivl, self.frontend.heartbeat_timeout = 1000, 3000
        self.backend.router_mandatory = 1
        self.backend.maxmsgsize = limits.message_size + _ANSWER_SLACK
        self.child_logs.maxmsgsize = _LOG_FRAME
        bind(self.backend, self.config.worker_endpoint, "server.run_dir")
        bind(self.child_logs, self.config.log_endpoint, "server.run_dir")
        self.ops.guard(self.frontend)
        self.backend_link = Backend(self, self.backend)
        self.clients = Clients(self.frontend, self.pool, self.ops,
                               {name.encode() for name in self.config.handlers},
                               self.backend_link.dispatch, limits.message_size)
        self.ops.add_status("clients", self.clients.snapshot)
        bind(self.frontend, self.config.listen, "server.listen")
        for sock in (self.frontend, self.backend):
            self.poller.register(sock, zmq.POLLIN)
        # Two quiet sockets the master never sends on are polled by their file descriptor,
        # cheaper than ZeroMQ's own check of each socket on every poll; as the fd signals
        # only changes, each is read until empty when it fires.
        self.logs_fd = self.child_logs.FD
        self.monitor_fd = self.clients.peers.monitor.FD  # read to the end by Peers.gone
        for fd in (self.logs_fd, self.monitor_fd):
            self.poller.register(fd, zmq.POLLIN)

    def apply_limits(self) -> None:
        """Take the pool's limits from the config (at start, and again on a reload)."""
        pool, limits = self.config.pool, self.config.pool.supervisor
        self.pool.max_queue_size, self.pool.max_queue_bytes = \
            pool.max_queue_size, pool.max_queue_memory
        self.pool.allocate_timeout, self.pool.pipeline = pool.allocate_timeout, pool.pipeline
        self.pool.durations.threshold = pool.prefetch_below
        self.exec_ttl = limits.exec_ttl
        self.max_jobs = pool.max_jobs
        self.watching = bool(limits.ttl or limits.idle_ttl or limits.max_worker_memory)
        self.next_watch = time.monotonic() + limits.watch_tick if self.watching else None

    def _dispatch(self, ident: bytes, request: Request) -> None:
        """Services (the ticker) hand requests to workers through here."""
        self.backend_link.dispatch(ident, request)

    def _reap_all(self) -> None:
        """Kill whatever workers are left so the interpreter's exit never waits on them."""
        workers = getattr(self, "workers", None)
        if workers is not None:
            workers.close()

    def _close(self) -> None:
        for service in self.services:
            service.close()
        self.ops.close()
        if hasattr(self, "clients"):
            self.clients.close()
        if self.signals is not None:
            self.signals.close()
        self.frontend.close(linger=1000)  # the last answers still go out
        self.context.destroy(linger=0)
        rundir.remove_sockets(self.config)
        journal.remove_all(self.config.run_dir)

    # --- the loop ---

    def _loop(self) -> None:
        link, clients, frontend = self.backend_link, self.clients, self.frontend
        while True:
            now = time.monotonic()
            deadline = self._next_deadline()
            timeout = None if deadline is None else max(0, int((deadline - now) * 1000) + 1)
            events = dict(self.poller.poll(0 if self.unfinished else timeout))
            if self.logs_fd in events or self.unfinished:
                self.unfinished = not drain(self.child_logs, self.logs.child_line, BUDGET)
            if self.backend in events:
                link.drain(BUDGET)
            for fd in events:  # after the answers a dying worker sent, before new requests
                ident = self.workers.sentinels.get(fd) if isinstance(fd, int) else None
                if ident is not None and self.workers.exited(ident):
                    guarded("a worker's exit", link.on_exit, ident)
            if frontend in events:
                clients.drain(CLIENT_BUDGET)
            if self.monitor_fd in events or clients.peers.leaving:
                guarded("closed client connections", clients.forget_gone)
            if link.outbox or clients.outbox or self.pool.expired:
                self._flush()
            if self.signals.fileno() in events:
                guarded("signals", self._on_signals)
            for sock, handle in self.service_sockets.items():
                if sock in events:
                    drain(sock, handle)
            for service in self.services:
                guarded(service.name, service.after_poll, events, time.monotonic())
            now = time.monotonic()
            if deadline is not None and now >= deadline:  # what comes due later sets the next
                guarded("timers", self._on_timers, now)
            guarded("operations", self.ops.after_poll, events, now)
            if link.outbox or clients.outbox or self.pool.expired:
                self._flush()
            if self.stopping and not self.workers.processes and \
                    not any(service.draining() for service in self.services):
                drain(self.child_logs, self.logs.child_line, BUDGET)
                link.refuse_queued(NotRunning, "the master stopped")
                clients.drain(BUDGET)  # what arrived meanwhile is refused: it did not run
                clients.flush()
                return

    def _flush(self) -> None:
        """Send what this turn produced: requests to workers first, then answers to clients."""
        guarded("expired requests", self.backend_link.fail_expired)
        guarded("sending to workers", self.backend_link.flush)
        guarded("answering clients", self.clients.flush)

    def _next_deadline(self) -> float | None:
        candidates = [self.pool.next_deadline(), self.workers.next_start(), self.stop_deadline,
                      self.next_watch, self.ops.next_deadline(),
                      *(service.next_deadline() for service in self.services)]
        if self.exec_ttl:
            candidates += [exec_deadline(w, self.exec_ttl) for w in self.pool.busy()]
        candidates = [c for c in candidates if c is not None]
        return min(candidates) if candidates else None

    def _on_timers(self, now: float) -> None:
        for request in self.pool.expire(now):
            self.backend_link.fail(request, NoFreeWorkers, "no free worker within "
                                   f"{self.config.pool.allocate_timeout:g}s")
        if self.exec_ttl:
            self.backend_link.cut_off_overdue(now, self.exec_ttl)
        if not self.stopping:
            self.workers.start_due(now)
            if self.next_watch is not None and now >= self.next_watch:
                self.next_watch = now + self.config.pool.supervisor.watch_tick
                self.workers.watch(now)
        elif self.stop_deadline is not None and now >= self.stop_deadline:
            self.stop_deadline = None
            log.warning("destroy_timeout passed: killing %d remaining workers",
                        len(self.workers.processes))
            self.workers.kill_all()

    # --- signals and the public verbs they call ---

    def _on_signals(self) -> None:
        for name in self.signals.pending():
            log.info("received SIG%s", name)
            self._SIGNAL_VERBS[name](self)

    def stop(self, graceful: bool) -> None:
        """Stop: drain running requests within destroy_timeout, or (not graceful) kill now."""
        if self.stopping and graceful:
            return
        self.stopping = self.clients.stopping = True
        for service in self.services:
            service.stop()
        if not graceful:
            self.workers.kill_all()
            self.backend_link.refuse_queued(NotRunning, "the master stopped immediately")
            return
        self.stop_deadline = time.monotonic() + self.config.pool.destroy_timeout
        log.info("stopping: draining %d running and %d waiting requests (destroy_timeout %gs; "
                 "Ctrl-C or SIGINT again stops at once)", self.pool.held(),
                 len(self.pool.queue), self.config.pool.destroy_timeout)
        self.workers.stop_idle()

    def interrupt(self) -> None:
        """Ctrl-C: a graceful stop; a second one while it drains stops at once."""
        if self.stopping:
            log.warning("interrupted again: stopping at once, killing %s",
                        counted(len(self.workers.processes), "worker"))
        self.stop(graceful=not self.stopping)

    def reset(self) -> None:
        """Replace every worker; each new one takes over before its predecessor retires."""
        if not self.stopping:
            self.ops.reloading()
            self.workers.reset(time.monotonic())

    def reload(self) -> None:
        """Re-read the config and apply it through a reset (see `supervisor.master.reload`)."""
        self.reloader.begin()

    def scale(self, delta: int) -> None:
        """Grow or shrink the pool by `delta` workers (never below one)."""
        if self.stopping:
            return
        now, step = time.monotonic(), 1 if delta > 0 else -1
        for _ in range(abs(delta)):
            self.workers.scale(step, now)

    def reopen_logs(self) -> None:
        """Reopen the log file (after logrotate moved it)."""
        self.logs.reopen()

    _SIGNAL_VERBS = {
        "TERM": lambda m: m.stop(graceful=True), "INT": lambda m: m.interrupt(),
        "QUIT": lambda m: m.stop(graceful=False), "HUP": lambda m: m.reload(),
        "TTIN": lambda m: m.scale(+1), "TTOU": lambda m: m.scale(-1),
        "USR1": lambda m: m.reopen_logs(),
    }
