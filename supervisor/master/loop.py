"""The master: one poll loop that wires socket, process and signal events to the pool.

The loop reads like a checklist: drain child logs, worker messages, worker exits,
client requests, signals, services, timers, operations. Allocation decisions live
in `supervisor.pool`, processes in `supervisor.lifecycle`, helper services behind
`supervisor.lifecycle.service`; signals and control commands call the same public
verbs (`stop`, `reset`, `scale`, `reopen_logs`).
"""

from __future__ import annotations

import logging
import os
import time

import zmq

from supervisor import wire
from supervisor.config import Config
from supervisor.config.values import counted
from supervisor.errors import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_OK,
    ExecTimeout,
    NoFreeWorkers,
    NotRunning,
    StartupError,
    WorkerLost,
)
from supervisor.lifecycle.service import Service
from supervisor.lifecycle.slots import Workers
from supervisor.lifecycle.spawn import exit_text
from supervisor.master import memory, rundir, services
from supervisor.master.clients import Clients
from supervisor.master.events import drain, failed, guarded
from supervisor.master.logs import Logs, log_handler_error
from supervisor.master.pidfile import PidFile
from supervisor.master.signals import SignalQueue
from supervisor.ops.operations import Operations, bind
from supervisor.pool.allocator import Pool, Request
from supervisor.pool.recycling import exec_deadline, should_prespawn
from supervisor.pool.states import UP, State
from supervisor.worker.child import set_title

log = logging.getLogger("supervisor.master")

SIGNALS = ("TERM", "INT", "QUIT", "HUP", "TTIN", "TTOU", "USR1")


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
        self.services: list[Service] = []
        self.service_sockets: dict[zmq.Socket, object] = {}
        self.ops = Operations(self)

    # --- set-up and tear-down ---

    def run(self) -> int:
        set_title("supervisor: master")
        memory.return_large_blocks()
        pidfile = PidFile(self.config.run_dir / "supervisor.pid")
        rundir.prepare(self.config)
        pidfile.acquire()
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
        self.frontend = self.context.socket(zmq.ROUTER)
        self.backend = self.context.socket(zmq.ROUTER)
        self.backend.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.child_logs = self.context.socket(zmq.PULL)
        for sock in (self.frontend, self.backend, self.child_logs):
            sock.linger = 0
            sock.sndhwm = sock.rcvhwm = 0
        bind(self.backend, self.config.worker_endpoint, "server.run_dir")
        bind(self.child_logs, self.config.log_endpoint, "server.run_dir")
        self.ops.guard(self.frontend)
        bind(self.frontend, self.config.listen, "server.listen")
        for sock in (self.frontend, self.backend, self.child_logs):
            self.poller.register(sock, zmq.POLLIN)
        self.clients = Clients(self.frontend, self.pool, self.ops,
                               {name.encode() for name in self.config.handlers}, self._dispatch)

    def apply_limits(self) -> None:
        """Take the pool's limits from the config (at start, and again on a reload)."""
        limits = self.config.pool.supervisor
        self.exec_ttl = limits.exec_ttl
        self.max_jobs = self.config.pool.max_jobs
        self.watching = bool(limits.ttl or limits.idle_ttl or limits.max_worker_memory)
        self.next_watch = time.monotonic() + limits.watch_tick if self.watching else None

    def _reap_all(self) -> None:
        """Kill whatever workers are left so the interpreter's exit never waits on them."""
        workers = getattr(self, "workers", None)
        if workers is not None:
            workers.close()

    def _close(self) -> None:
        for service in self.services:
            service.close()
        self.ops.close()
        if self.signals is not None:
            self.signals.close()
        self.frontend.close(linger=1000)  # the last answers still go out
        self.context.destroy(linger=0)
        rundir.remove_sockets(self.config)

    # --- the loop ---

    def _loop(self) -> None:
        while True:
            now = time.monotonic()
            deadline = self._next_deadline()
            timeout = None if deadline is None else max(0, int((deadline - now) * 1000) + 1)
            events = dict(self.poller.poll(timeout))
            if self.child_logs in events:
                drain(self.child_logs, self.logs.child_line)
            if self.backend in events:
                drain(self.backend, self._on_worker)
            for fd in events:  # after the replies a dying worker sent, before new requests
                ident = self.workers.sentinels.get(fd) if isinstance(fd, int) else None
                if ident is not None and self.workers.exited(ident):
                    guarded("a worker's exit", self._on_exit, ident)
            if self.frontend in events:
                drain(self.frontend, self.clients.on_request)
            if self.signals.fileno() in events:
                guarded("signals", self._on_signals)
            for sock, handle in self.service_sockets.items():
                if sock in events:
                    drain(sock, handle)
            for service in self.services:
                guarded(service.name, service.after_poll, events, time.monotonic())
            guarded("timers", self._on_timers, time.monotonic())
            guarded("operations", self.ops.after_poll, events, time.monotonic())
            if self.stopping and not self.workers.processes and \
                    not any(service.draining() for service in self.services):
                drain(self.child_logs, self.logs.child_line)
                self._refuse_queued(NotRunning, "the master stopped")
                return

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
            self._reply_error(request, NoFreeWorkers,
                              f"no free worker within {self.config.pool.allocate_timeout:g}s")
        if self.exec_ttl:
            self._cut_off_overdue(now)
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

    def _cut_off_overdue(self, now: float) -> None:
        """exec_ttl is hard: answer ExecTimeout, kill the worker; its slot restarts."""
        for worker in self.pool.busy():
            deadline = exec_deadline(worker, self.exec_ttl)
            if deadline is None or now < deadline:
                continue
            request = self.pool.abandon(worker.ident)
            self._reply_error(request, ExecTimeout,
                              f"the handler ran longer than exec_ttl {self.exec_ttl:g}s")
            self.ops.hung(worker, request, self.exec_ttl, now,
                          lambda ident=worker.ident: self.workers.kill(ident))

    # --- requests on their way to workers ---

    def _dispatch(self, ident: bytes, request: Request) -> None:
        try:
            self.backend.send_multipart([ident, request.handler, request.body, request.context])
        except zmq.ZMQError:
            log.warning("worker %s is unreachable; its request goes to another worker",
                        ident.decode())
            self.pool.abandon(ident)
            self.workers.kill(ident)
            worker = self.pool.submit(request, time.monotonic())
            if worker is not None:
                self._dispatch(worker.ident, request)

    @staticmethod
    def _reply_error(request: Request, error: type, message: str) -> None:
        request.origin.failed(request, error.code, message)

    def _refuse_queued(self, error: type, message: str) -> None:
        for request in self.pool.drain_queue():
            self._reply_error(request, error, message)

    # --- messages from workers ---

    def _on_worker(self, frames: list[bytes]) -> None:
        ident, kind, *rest = frames
        if kind in (wire.OK, wire.ERR) and len(rest) == 1:
            self._on_reply(ident, kind, rest[0])
        elif kind == wire.READY:
            self._on_ready(ident, rest)
        elif kind == wire.FATAL:
            self._on_fatal(ident, rest)
        else:
            log.warning("unexpected message %r from worker %r", kind[:32], ident[:64])

    def _on_reply(self, ident: bytes, status: bytes, body: bytes) -> None:
        outcome = self.pool.done(ident, time.monotonic())
        if outcome is None:
            return
        worker, finished, following = outcome
        if status == wire.ERR:
            body = log_handler_error(worker.id, worker.pid, finished.handler, body)
        finished.origin.answered(finished, status == wire.OK, body, time.monotonic())
        if following is not None:
            self._dispatch(ident, following)
        elif self.stopping and worker.state is State.READY:
            self.pool.retire(ident)
        if worker.state is State.STOPPING:
            self.workers.stop(ident)
            if not self.stopping:
                self._send_handed(self.workers.hand_over(ident, time.monotonic(),
                                                         f"{worker.jobs} jobs done"))
                if not self.pool.serving():
                    log.warning("no worker is serving: every one is being replaced")
        elif self.max_jobs and not self.stopping and not self.workers.replacing(ident) and \
                should_prespawn(worker, time.monotonic(), self.workers.startup):
            self.workers.replace(ident, time.monotonic(), f"{worker.jobs} of {worker.max_jobs} "
                                 f"jobs done (max_jobs {self.max_jobs})", standby=True)

    def _send_handed(self, handed: tuple[bytes, Request | None] | None) -> None:
        """Send the request a successor took over when it started serving, if any."""
        if handed is not None and handed[1] is not None:
            self._dispatch(*handed)

    def _on_ready(self, ident: bytes, rest: list[bytes]) -> None:
        try:
            pid = int(wire.load_json(rest[0])["pid"])
        except (wire.WireError, ValueError, KeyError, TypeError, IndexError, OverflowError):
            log.warning("malformed ready message from worker %r", ident[:64])
            return
        outcome = self.pool.ready(ident, pid, time.monotonic())
        if outcome is None:
            return
        worker, request = outcome
        if worker.state is State.STOPPING:
            self.workers.stop(ident)
            return
        self.workers.on_ready(worker)
        if request is not None:
            self._dispatch(ident, request)
        if self.stopping:
            self.pool.retire(ident)
            self.workers.stop(ident)
        if not self.ready_announced and self.pool.count(*UP) >= \
                self.config.pool.num_workers:
            self.ready_announced = True
            log.info("pool ready: %s", counted(self.config.pool.num_workers, "worker"))
            for service in self.services:
                service.pool_ready(time.monotonic())

    def _on_fatal(self, ident: bytes, rest: list[bytes]) -> None:
        try:
            info = wire.load_json(rest[0])
            key, error = str(info["key"]), str(info["error"])
            trace = str(info.get("traceback") or "")
        except (wire.WireError, KeyError, TypeError, IndexError, AttributeError):
            key, error, trace = "handlers", "a worker failed to load its handlers", ""
        if self.stopping or not self.workers.issued(ident):  # not from a worker of ours
            return
        if not self.ready_announced:
            log.critical("%s: %s: %s%s", self.config.path, key, error, trace and "\n" + trace)
            self.exit_code = EXIT_CONFIG
            self.stop(graceful=False)
        else:
            self.workers.on_fatal(ident, f"{key}: {error}")

    def _on_exit(self, ident: bytes) -> None:
        worker, code = self.workers.on_exit(ident, time.monotonic(), restart=not self.stopping)
        self.ops.stacks.forget(ident)
        if worker is not None and not self.stopping:
            self._send_handed(self.workers.activate_standby(worker.id, time.monotonic()))
        if worker is not None and worker.request is not None:
            self._reply_error(worker.request, WorkerLost,
                              f"worker {worker.id} (pid {worker.pid}) {exit_text(code)} "
                              "while running this request")
        if self.stopping and not self.workers.processes:
            self._refuse_queued(NotRunning, "the master stopped")

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
            self._refuse_queued(NotRunning, "the master stopped immediately")
            return
        self.stop_deadline = time.monotonic() + self.config.pool.destroy_timeout
        log.info("stopping: draining %d running and %d waiting requests (destroy_timeout %gs; "
                 "Ctrl-C or SIGINT again stops at once)", len(self.pool.busy()),
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
