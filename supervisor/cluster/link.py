"""The master's side of the cluster: runs the coordinator, keeps its latest status.

Like the keepalive reporter, the coordinator starts once the pool is ready (a node whose
workers cannot run ticks must not lead), is restarted when it dies, and is stopped (so it
resigns) as soon as the master begins to stop. Its status arrives on the control socket
as the `cluster` command, once a second.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import TYPE_CHECKING, Any

from supervisor import __version__
from supervisor.cluster.coordinator import RESULTS, SingletonSpec
from supervisor.cluster.helper import CoordinatorSpec, permits_endpoint, run_coordinator
from supervisor.process import Helper

if TYPE_CHECKING:
    from supervisor.master import Master

log = logging.getLogger("supervisor.cluster")


class ClusterLink:
    def __init__(self, master: Master) -> None:
        self.master = master
        self.coordinator = Helper("cluster coordinator", master.config.pool.start_method,
                                  run_coordinator, lambda: (self._spec(),), master.poller)
        self.started = False
        self.latest: dict[str, Any] = {"leader": False, "engine": "unknown", "claims": {}}
        self.claims_seen: dict[str, int] = {}

    def _spec(self) -> CoordinatorSpec:
        config = self.master.config
        assert config.cluster is not None
        schedules = [SingletonSpec(s.name, float(s.every), s.anchor or 0.0)
                     for s in config.schedules if s.singleton and s.every]
        member = {"host": socket.gethostname(), "endpoint": config.listen,
                  "version": __version__, "config": config.path}
        return CoordinatorSpec(config=config.cluster, schedules=schedules,
                               endpoint=permits_endpoint(str(config.run_dir)),
                               control=config.control_endpoint, log_endpoint=config.log_endpoint,
                               log_level=config.log.level, member=member)

    def after_poll(self, events: dict[Any, int], now: float) -> None:
        self.coordinator.after_poll(events, now)
        if self.master.stopping:
            self.coordinator.stop()
        elif not self.started and self.master.ready_announced:
            self.started = True
            self.coordinator.start(now)

    def next_deadline(self) -> float | None:
        return self.coordinator.restart_at

    def close(self) -> None:
        self.coordinator.close()

    def command(self, args: dict[str, Any]) -> dict[str, Any]:
        """The `cluster` control command: the coordinator's status, once a second."""
        if isinstance(args.get("claims"), dict):
            metrics = self.master.ops.metrics
            for result, count in args["claims"].items():
                if result in RESULTS and isinstance(count, int):
                    metrics.cluster_claims(result, count - self.claims_seen.get(result, 0))
                    self.claims_seen[result] = count
        self.latest = {key: args[key] for key in
                       ("node", "leader", "epoch", "holder", "engine", "backend", "name",
                        "lease", "on_engine_loss", "claims", "schedules") if key in args}
        self.master.ops.metrics.cluster_state(self.latest)
        return {"pid": os.getpid()}

    def status(self) -> dict[str, Any]:
        """The `cluster` section of `supervisor status`."""
        return {**self.latest, "pid": self.coordinator.pid}
