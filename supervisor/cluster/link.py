"""The master's side of the cluster: the coordinator as a service beside the pool.

Like the keepalive reporter, the coordinator starts once the pool is ready (a node whose
workers cannot run ticks must not lead), is restarted when it dies, and is stopped (so it
resigns) as soon as the master begins to stop; the master waits for it to finish. Its
status arrives on the control socket as the `cluster` command, once a second.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import zmq

from supervisor import __version__
from supervisor.cluster.coordinator import RESULTS, SingletonSpec
from supervisor.cluster.helper import CoordinatorSpec, permits_endpoint, run_coordinator
from supervisor.config import Config
from supervisor.lifecycle.helper import Helper
from supervisor.lifecycle.service import Handler

_STATUS_KEYS = ("node", "leader", "epoch", "holder", "engine", "backend", "name", "lease",
                "on_engine_loss", "claims", "schedules")


class ClusterLink:
    """The cluster service (supervisor.lifecycle.service): supervises the coordinator.

    `count(result, n)` adds claim results to the metrics; `state(view)` passes on the
    coordinator's latest view (engine up, leadership) for the gauges.
    """

    name = "cluster coordinator"

    def __init__(self, config: Config, poller: zmq.Poller,
                 count: Callable[[str, int], None], state: Callable[[dict], None]) -> None:
        self.config = config
        self.count = count
        self.state = state
        self.coordinator = Helper(self.name, config.pool.start_method, run_coordinator,
                                  lambda: (self._spec(),), poller)
        self.latest: dict[str, Any] = {"leader": False, "engine": "unknown", "claims": {}}
        self.claims_seen: dict[str, int] = {}

    def _spec(self) -> CoordinatorSpec:
        config = self.config
        assert config.cluster is not None
        schedules = [SingletonSpec(s.name, float(s.every), s.anchor or 0.0)
                     for s in config.schedules if s.singleton and s.every]
        member = {"host": socket.gethostname(), "endpoint": config.listen,
                  "version": __version__, "config": config.path}
        return CoordinatorSpec(config=config.cluster, schedules=schedules,
                               endpoint=permits_endpoint(str(config.run_dir)),
                               control=config.control_endpoint, log_endpoint=config.log_endpoint,
                               log_level=config.log.level, member=member)

    # --- the service seam ---

    def sockets(self) -> dict[zmq.Socket, Handler]:
        return {}

    def pool_ready(self, now: float) -> None:
        if not self.coordinator.stopped:
            self.coordinator.start(now)

    def after_poll(self, events: dict[Any, int], now: float) -> None:
        self.coordinator.after_poll(events, now)

    def next_deadline(self) -> float | None:
        return self.coordinator.restart_at

    def stop(self) -> None:
        self.coordinator.stop()

    def draining(self) -> bool:
        return self.coordinator.running  # resigning the lease: one engine call

    def close(self) -> None:
        self.coordinator.close()

    # --- status from the coordinator ---

    def command(self, args: dict[str, Any]) -> dict[str, Any]:
        """The `cluster` control command: the coordinator's status, once a second."""
        if isinstance(args.get("claims"), dict):
            for result, count in args["claims"].items():
                if result in RESULTS and isinstance(count, int):
                    self.count(result, count - self.claims_seen.get(result, 0))
                    self.claims_seen[result] = count
        self.latest = {key: args[key] for key in _STATUS_KEYS if key in args}
        self.state(self.latest)
        return {}

    def status(self) -> dict[str, Any]:
        """The `cluster` section of `supervisor status`."""
        return {**self.latest, "pid": self.coordinator.pid}
