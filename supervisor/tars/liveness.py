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
from collections import Counter
from collections.abc import Callable
from typing import Any

import zmq

from supervisor import __version__
from supervisor.config import Config
from supervisor.lifecycle.helper import Helper
from supervisor.lifecycle.service import Handler
from supervisor.tars.keepalive import ADMIN_ADAPTER
from supervisor.tars.reporter import ReporterSpec, run_reporter

log = logging.getLogger("supervisor.liveness")

RESULTS = ("ok", "paused", "rejected", "unreachable")
# What a round's status may carry, with the types accepted for each field.
_FIELDS: dict[str, tuple[type, ...]] = {
    "state": (str,), "last_success": (int, float), "last_error": (str,), "reports": (int,),
    "failures": (int,), "missed": (int,)}


def probe_timeout(interval: float) -> float:
    """How long the reporter waits for the master: short, so a stopped master costs a round."""
    return min(2.0, interval / 2)


class Liveness:
    """The keepalive service: supervises the reporter process and answers its probe.

    `alive()` says how many workers serve (none while the master stops);
    `count(result)` counts each round's result in the metrics.
    """

    name = "keepalive reporter"

    def __init__(self, config: Config, poller: zmq.Poller, alive: Callable[[], int],
                 count: Callable[[str], None]) -> None:
        self.config = config
        self.alive = alive
        self.count = count
        self.results: Counter[str] = Counter()
        self.reporter = Helper(self.name, config.pool.start_method, run_reporter,
                               lambda: (self._spec(),), poller)
        self.latest: dict[str, Any] = {"state": "waiting for the pool", "last_success": None,
                                       "last_error": None, "reports": 0, "failures": 0,
                                       "missed": 0}

    def _spec(self) -> ReporterSpec:
        config = self.config
        conf = config.tars
        assert conf is not None
        return ReporterSpec(
            control=config.control_endpoint, log_endpoint=config.log_endpoint,
            log_level=config.log.level, app=conf.app, server=conf.server,
            adapters=[adapter.name for adapter in conf.adapters], node=conf.node,
            node_servant=conf.node_servant, pid=os.getpid(), interval=config.keepalive_interval,
            app_version=f"zmq-supervisor {__version__}",
            probe_timeout=probe_timeout(config.keepalive_interval))

    # --- the reporter process (the service seam, supervisor.lifecycle.service) ---

    def sockets(self) -> dict[zmq.Socket, Handler]:
        return {}

    def pool_ready(self, now: float) -> None:
        if not self.reporter.stopped:
            self.reporter.start(now)

    def after_poll(self, events: dict[Any, int], now: float) -> None:
        self.reporter.after_poll(events, now)

    def next_deadline(self) -> float | None:
        return self.reporter.next_deadline()

    def stop(self) -> None:
        self.reporter.stop()

    def draining(self) -> bool:
        return False  # the reporter has nothing to finish: close() ends it

    def close(self) -> None:
        """The master is exiting: the reporter goes too, killed if it has not finished."""
        self.reporter.close()

    # --- the probe and the results ---

    def command(self, args: dict[str, Any]) -> dict[str, Any]:
        """The `keepalive` control command: record a round's result, say how many workers live."""
        result = args.get("result")
        if result in RESULTS:
            self.results[result] += 1
            self.count(result)
        status = args.get("status")
        if isinstance(status, dict):
            for key, types in _FIELDS.items():
                value = status.get(key)
                if value is None or (isinstance(value, types) and not isinstance(value, bool)):
                    self.latest[key] = value
        return {"alive": self.alive(), "pid": os.getpid()}

    def status(self) -> dict[str, Any]:
        """The `keepalive` section of `supervisor status`."""
        config = self.config
        conf = config.tars
        assert conf is not None
        adapters = [a.name for a in conf.adapters if a.name != ADMIN_ADAPTER] + [ADMIN_ADAPTER]
        last = self.latest["last_success"]
        return {"enabled": True, "results": dict(self.results),
                **self.latest, "since_success": None if last is None else
                round(time.time() - last, 3),
                "node": f"{conf.node_servant}@{conf.node}", "interval": config.keepalive_interval,
                "adapters": adapters, "pid": self.reporter.pid}
