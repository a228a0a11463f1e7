"""The master's side of the keepalive: runs the reporter process and answers its probe.

The reporter (`supervisor.reporter`) starts once the pool is ready, is restarted when it dies
(after a pause if it died young, like the scheduler), and is stopped as soon as the master
begins to stop. Its probe is the control command `keepalive`, answered from the master loop:
the answer says how many workers are alive, none while the master stops. The same command
brings back how each round went, which `supervisor status` shows and the metrics count.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

import zmq

from supervisor import __version__
from supervisor.keepalive import ADMIN_ADAPTER
from supervisor.pool import State
from supervisor.process import start_child
from supervisor.reporter import ReporterSpec, run_reporter

if TYPE_CHECKING:
    from supervisor.master import Master

log = logging.getLogger("supervisor.liveness")

RESULTS = ("ok", "paused", "rejected", "unreachable")
# A reporter that dies sooner than this after starting is restarted after a pause.
_RESTART_PAUSE = 1.0
_STOP_WAIT = 1.0
# What a round's status may carry, with the types accepted for each field.
_FIELDS: dict[str, tuple[type, ...]] = {
    "state": (str,), "last_success": (int, float), "last_error": (str,), "reports": (int,),
    "failures": (int,), "missed": (int,)}


def probe_timeout(interval: float) -> float:
    """How long the reporter waits for the master: short, so a stopped master costs a round."""
    return min(2.0, interval / 2)


class Liveness:
    """Supervises the reporter process of a master whose config has a Tars conf."""

    def __init__(self, master: Master) -> None:
        self.master = master
        self.process: Any = None
        self.started = False
        self.stopped = False
        self.started_at = 0.0
        self.restart_at: float | None = None
        self.latest: dict[str, Any] = {"state": "waiting for the pool", "last_success": None,
                                       "last_error": None, "reports": 0, "failures": 0,
                                       "missed": 0}

    def _spec(self) -> ReporterSpec:
        config = self.master.config
        conf = config.tars
        assert conf is not None
        return ReporterSpec(
            control=config.control_endpoint, log_endpoint=config.log_endpoint,
            log_level=config.log.level, app=conf.app, server=conf.server,
            adapters=[adapter.name for adapter in conf.adapters], node=conf.node,
            node_servant=conf.node_servant, pid=os.getpid(), interval=config.keepalive_interval,
            app_version=f"zmq-supervisor {__version__}",
            probe_timeout=probe_timeout(config.keepalive_interval))

    # --- the reporter process ---

    def after_poll(self, events: dict[Any, int], now: float) -> None:
        """Start once the pool is ready, reap and restart, stop when the master stops."""
        master = self.master
        if self.process is not None and self.process.sentinel in events:
            self._on_exit(now)
        if master.stopping:
            self.stop()
        elif not self.started and master.ready_announced:
            self.started = True
            self._spawn(now)
        elif self.restart_at is not None and now >= self.restart_at:
            self.restart_at = None
            self._spawn(now)

    def next_deadline(self) -> float | None:
        return self.restart_at

    def _spawn(self, now: float) -> None:
        self.process = start_child(self.master.config.pool.start_method, run_reporter,
                                   self._spec(), name="keepalive")
        self.started_at = now
        self.master.poller.register(self.process.sentinel, zmq.POLLIN)
        log.debug("keepalive reporter started (pid %d)", self.process.pid)

    def _on_exit(self, now: float) -> None:
        self.master.poller.unregister(self.process.sentinel)
        self.process.join(_STOP_WAIT)
        code = self.process.exitcode
        self.process.close()
        self.process = None
        if self.stopped or self.master.stopping:
            return
        pause = _RESTART_PAUSE if now - self.started_at < _RESTART_PAUSE else 0.0
        log.warning("keepalive reporter exited with code %s; restarting in %.1fs", code, pause)
        self.restart_at = now + pause

    def stop(self) -> None:
        """Ask the reporter to finish (it stops reporting at once); no more restarts."""
        if self.stopped:
            return
        self.stopped = True
        self.restart_at = None
        if self.process is not None:
            self.process.terminate()

    def close(self) -> None:
        """The master is exiting: the reporter goes too, killed if it has not finished."""
        self.stop()
        if self.process is None:
            return
        self.process.join(_STOP_WAIT)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join(_STOP_WAIT)
        self.process = None

    # --- the probe and the results ---

    def command(self, args: dict[str, Any]) -> dict[str, Any]:
        """The `keepalive` control command: record a round's result, say how many workers live."""
        result = args.get("result")
        if result in RESULTS:
            self.master.ops.metrics.keepalive(result)
        status = args.get("status")
        if isinstance(status, dict):
            for key, types in _FIELDS.items():
                value = status.get(key)
                if value is None or (isinstance(value, types) and not isinstance(value, bool)):
                    self.latest[key] = value
        master = self.master
        alive = 0 if master.stopping else master.pool.count(State.READY, State.WORKING)
        return {"alive": alive, "pid": os.getpid()}

    def status(self) -> dict[str, Any]:
        """The `keepalive` section of `supervisor status`."""
        config = self.master.config
        conf = config.tars
        assert conf is not None
        adapters = [a.name for a in conf.adapters if a.name != ADMIN_ADAPTER] + [ADMIN_ADAPTER]
        last = self.latest["last_success"]
        return {"enabled": True, "results": dict(self.master.ops.metrics.keepalives),
                **self.latest, "since_success": None if last is None else
                round(time.time() - last, 3),
                "node": f"{conf.node_servant}@{conf.node}", "interval": config.keepalive_interval,
                "adapters": adapters, "pid": None if self.process is None else self.process.pid}
