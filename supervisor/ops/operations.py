"""The master's operations layer: control socket, systemd notify and watchdog, metrics, keepalive.

`Master` owns one `Operations` and calls a handful of hooks from its loop
(`start`, `after_poll`, `next_deadline`, the request hooks, `close`). Operations
sees the master only as `Controls`: a few facts and the public verbs, which
control commands call exactly as signals do (`stop` is SIGTERM, `reset` SIGHUP,
`scale` TTIN/TTOU).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any, Protocol

import zmq

from supervisor import __version__
from supervisor.config import Config
from supervisor.errors import StartupError
from supervisor.lifecycle.slots import Workers
from supervisor.ops import access
from supervisor.ops.control import CommandError, ControlServer, Later
from supervisor.ops.metrics import Metrics, WorkerView
from supervisor.ops.notify import START_SOCKET_ENV, Notifier, Watchdog
from supervisor.ops.snapshot import CpuSampler, pool_counts, summary, worker_rows
from supervisor.ops.stacks import StackDumps
from supervisor.pool.allocator import Pool, Request, Worker
from supervisor.pool.states import UP

log = logging.getLogger("supervisor.operations")

STATUS_EVERY = 1.0
MAX_WORKERS = 1024


def bind(sock: zmq.Socket, endpoint: str, key: str) -> None:
    """Bind `sock`; a failure is a StartupError naming the config key and the address."""
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as exc:
        raise StartupError(f"{key} {endpoint}: cannot bind: {zmq.strerror(exc.errno)}") from None


class Controls(Protocol):
    """What operations may see of the master: facts, and the verbs signals also call."""

    config: Config
    context: zmq.Context
    poller: zmq.Poller
    pool: Pool
    workers: Workers
    stopping: bool
    ready_announced: bool

    def stop(self, graceful: bool) -> None: ...

    def reset(self) -> None: ...

    def scale(self, delta: int) -> None: ...


class Operations:
    """Hooks the master calls; holds the control server, notifier, watchdog and metrics."""

    def __init__(self, master: Controls) -> None:
        self.master = master
        self.started_wall = time.time()
        self.started = time.monotonic()
        self.notifier = Notifier.from_env()
        self.starter = Notifier(os.environ.pop(START_SOCKET_ENV, None) or None)
        self.watchdog = Watchdog.from_env(self.started)
        self.metrics = Metrics(master.config.metrics_address, self._worker_views,
                               lambda: len(master.pool.queue))
        self.sampler = CpuSampler()
        self.control: ControlServer | None = None
        self.status_sources: dict[str, Callable[[], Any]] = {}
        self.announced_ready = False
        self.announced_stopping = False
        self.reload_at: float | None = None
        self.status_text = ""
        self.status_sent_at = 0.0
        self.stacks = StackDumps(master.config.run_dir)
        self.commands: dict[str, Callable[[dict[str, Any]], Any]] = {
            "status": self.cmd_status, "workers": self.cmd_workers, "reset": self.cmd_reset,
            "stop": self.cmd_stop, "scale": self.cmd_scale, "ping": self.cmd_ping,
            "dump": self.cmd_dump}

    # --- life cycle ---

    def start(self) -> None:
        """Bind the control socket and the metrics endpoint; after the master's own sockets."""
        self.control = ControlServer(self.master.context, self.master.config.control_endpoint,
                                     self.commands)
        self.master.poller.register(self.control.socket, zmq.POLLIN)
        try:
            self.metrics.start(self.master.config.control_endpoint)
        except (OSError, ValueError) as exc:
            raise StartupError(f"metrics.address {self.metrics.address!r}: {exc}") from None
        self.notifier.status("starting")

    def guard(self, sock: zmq.Socket) -> None:
        """Before the listen socket binds: refuse tcp peers outside `server.allow` (Tars allow)."""
        access.guard(self.master.context, sock, self.master.config.listen,
                     self.master.config.allow)

    def close(self) -> None:
        if not self.announced_stopping:
            self.notifier.stopping()
        if self.control is not None:
            self.control.close()
            self.control = None
        self.metrics.close()
        self.stacks.close()
        self.notifier.close()
        self.starter.close()

    def cluster_service(self, poller: zmq.Poller) -> Any:
        """The coordinator's service, its `cluster` command and status section; the cluster
        package is imported only here, only for a config with a `cluster:` section."""
        from supervisor.cluster.link import ClusterLink

        link = ClusterLink(self.master.config, poller, self.metrics.cluster_claims,
                           self.metrics.cluster_state)
        self.add_command("cluster", link.command)
        self.add_status("cluster", link.status)
        return link

    def add_status(self, name: str, provider: Callable[[], Any]) -> None:
        """Add a section to `supervisor status` (e.g. schedules' tick stats, keepalive state)."""
        self.status_sources[name] = provider

    def add_command(self, name: str, command: Callable[[dict[str, Any]], Any]) -> None:
        """Serve one more control command (before `start`), e.g. the keepalive probe."""
        self.commands[name] = command

    # --- the loop ---

    def next_deadline(self) -> float | None:
        """When the loop must wake for us: the next watchdog ping or a pending STATUS."""
        candidates = [self.watchdog.next_deadline(), self.stacks.next_deadline()]
        if self.notifier.enabled:
            candidates.append(self.status_sent_at + STATUS_EVERY)
        return min((c for c in candidates if c is not None), default=None)

    def after_poll(self, events: dict[Any, int], now: float) -> None:
        """Serve control requests, then tell systemd what changed; called every loop turn."""
        if self.control is not None and self.control.socket in events:
            self.control.drain()
        self.stacks.due(now)
        master = self.master
        if not self.announced_ready and master.ready_announced and not master.stopping:
            self.announced_ready = True
            text = self._summary()
            self.notifier.ready(text)
            self.starter.ready(text)
            self.starter.close()
        if self.reload_at is not None and not master.stopping and self._reloaded():
            self.reload_at = None
            log.info("reset done: %d new workers ready", master.workers.size)
            self.notifier.ready(self._summary())
        if master.stopping and not self.announced_stopping:
            self.announced_stopping = True
            self.notifier.stopping()
        if self.watchdog.due(now):
            self.notifier.send(WATCHDOG=1)
        if self.notifier.enabled and now - self.status_sent_at >= STATUS_EVERY:
            self.status_sent_at = now
            text = self._summary()
            if text != self.status_text:
                self.status_text = text
                self.notifier.status(text)

    def reloading(self) -> None:
        """A reset begins: RELOADING=1 now, READY=1 once every slot has a new ready worker."""
        self.reload_at = time.monotonic()
        self.notifier.reloading()

    def _reloaded(self) -> bool:
        fresh = sum(1 for w in self.master.pool.workers.values()
                    if w.started >= self.reload_at and w.state in UP)
        return fresh >= self.master.workers.size

    # --- events from the master ---

    def request_done(self, request: Request, ok: bool, now: float) -> None:
        """A worker answered `request` (ok or HandlerError)."""
        outcome = "ok" if ok else "HandlerError"
        self.metrics.request(request.handler.decode("utf-8", "replace"), outcome,
                             now - request.started, request.started - request.arrived)

    def request_failed(self, request: Request, code: str) -> None:
        """The master answered `request` with an error of its own (`code`)."""
        seconds = waited = None
        if request.started:
            seconds = time.monotonic() - request.started
            waited = request.started - request.arrived
        self.metrics.request(request.handler.decode("utf-8", "replace"), code, seconds, waited)

    def hung(self, worker: Worker, request: Request, limit: float, now: float,
             kill: Callable[[], None]) -> None:
        """A request ran past exec_ttl: log the worker's stacks with the handler and the
        request's age, then `kill()` it (at once when it cannot be asked for its stacks)."""
        handler = request.handler.decode("utf-8", "replace")

        def log_and_kill(stacks: str) -> None:
            log.warning("worker %d (pid %s) ran %r for %.1fs, past exec_ttl %gs; killing it. "
                        "Its Python stacks:\n%s", worker.id, worker.pid, handler,
                        time.monotonic() - request.started, limit, stacks)
            kill()

        if worker.pid is None or not self.stacks.request(worker.ident, worker.pid, now,
                                                         log_and_kill):
            kill()

    # --- state ---

    def state(self) -> str:
        master = self.master
        if master.stopping:
            return "stopping"
        if master.workers.degraded:
            return "degraded"
        if not master.ready_announced:
            return "starting"
        return "reloading" if self.reload_at is not None else "running"

    def _summary(self) -> str:
        return summary(self.state(), self.master.workers.size, pool_counts(self.master.pool),
                       len(self.master.pool.queue))

    def _worker_views(self) -> list[WorkerView]:
        """Called from the metrics thread: one atomic copy of the pool's workers."""
        workers = list(self.master.pool.workers.values())
        return [WorkerView(w.id, w.pid, w.state.shown) for w in workers]

    # --- control commands ---

    def cmd_ping(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"pid": os.getpid(), "version": __version__, "listen": self.master.config.listen}

    def cmd_status(self, args: dict[str, Any]) -> dict[str, Any]:
        master, metrics = self.master, self.metrics
        state = self.state()
        outcomes: dict[str, int] = {}
        for (_handler, outcome), count in metrics.requests.items():
            outcomes[outcome] = outcomes.get(outcome, 0) + count
        schedules: dict[str, dict[str, int]] = {}
        for (schedule, outcome), count in metrics.ticks.items():
            schedules.setdefault(schedule, {})[outcome] = count
        status = {
            "pid": os.getpid(), "version": __version__, "state": state,
            "healthy": state in ("running", "reloading"), "config": master.config.path,
            "started": self.started_wall, "uptime": round(time.monotonic() - self.started, 3),
            "pool": {"size": master.workers.size, "processes": len(master.workers.processes),
                     **pool_counts(master.pool), "degraded": master.workers.degraded,
                     "last_failure": master.workers.last_failure or None},
            "queue": len(master.pool.queue), "requests": outcomes,
            "restarts": dict(metrics.restarts), "recent_restarts": list(metrics.recent_restarts),
            "schedules": schedules,
            "keepalive": {"enabled": bool(master.config.keepalive_enabled),
                          "results": dict(metrics.keepalives)},
            "metrics": metrics.url,
        }
        for name, provider in self.status_sources.items():
            status[name] = provider()
        return status

    def cmd_workers(self, args: dict[str, Any]) -> dict[str, Any]:
        processes = self.master.workers.processes
        pids = {ident: process.pid for ident, process in processes.items()}
        rows = worker_rows(self.master.pool, pids, self.sampler, time.monotonic())
        return {"workers": rows, "size": self.master.workers.size}

    def cmd_reset(self, args: dict[str, Any]) -> dict[str, Any]:
        self._refuse_when_stopping()
        log.info("reset requested on the control socket")
        self.master.reset()
        return {"replacing": self.master.workers.size}

    def cmd_stop(self, args: dict[str, Any]) -> dict[str, Any]:
        immediate = args.get("immediate", False)
        if not isinstance(immediate, bool):
            raise CommandError("BadRequest", "immediate must be true or false")
        log.info("%s stop requested on the control socket", "immediate" if immediate else
                 "graceful")
        self.master.stop(graceful=not immediate)
        return {"stopping": True, "pid": os.getpid(),
                "destroy_timeout": self.master.config.pool.destroy_timeout}

    def cmd_scale(self, args: dict[str, Any]) -> dict[str, Any]:
        self._refuse_when_stopping()
        workers = self.master.workers
        if set(args) == {"delta"} and _is_int(args["delta"]):
            target = workers.size + args["delta"]
        elif set(args) == {"workers"} and _is_int(args["workers"]):
            target = args["workers"]
        else:
            raise CommandError("BadRequest", 'expected {"delta": +-N} or {"workers": N}')
        if not 1 <= target <= MAX_WORKERS:
            raise CommandError("BadRequest", f"pool size must stay within 1..{MAX_WORKERS}, "
                                             f"asked for {target}")
        self.master.scale(target - workers.size)
        return {"size": workers.size}

    def cmd_dump(self, args: dict[str, Any]) -> Later:
        """The Python stacks of worker `args["worker"]` (an id), which keeps running."""
        worker_id = args.get("worker")
        if set(args) != {"worker"} or not _is_int(worker_id):
            raise CommandError("BadRequest", 'expected {"worker": ID}')
        live = [w for w in self.master.pool.workers.values() if w.id == worker_id and w.pid]
        if not live:
            raise CommandError("NotFound", f"no live worker {worker_id} (pool size "
                                           f"{self.master.workers.size})")
        worker = max(live, key=lambda w: (w.request is not None, w.started))
        running = None
        if worker.request is not None:
            running = {"handler": worker.request.handler.decode("utf-8", "replace"),
                       "running": round(time.monotonic() - worker.request.started, 3)}
        reply = Later()

        def answer(stacks: str) -> None:
            log.info("stacks of worker %d (pid %d)%s, on request:\n%s", worker.id, worker.pid,
                     f" running {running['handler']!r} for {running['running']:.1f}s"
                     if running else "", stacks)
            reply.done({"worker": worker.id, "pid": worker.pid, "request": running,
                        "stacks": stacks})

        if not self.stacks.request(worker.ident, worker.pid, time.monotonic(), answer):
            raise CommandError("NotFound", f"worker {worker_id} (pid {worker.pid}) has exited")
        return reply

    def _refuse_when_stopping(self) -> None:
        if self.master.stopping:
            raise CommandError("NotRunning", "the master is stopping")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
