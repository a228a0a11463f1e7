"""The master's side of the Centrifugo proxy: a service that runs the helper and keeps its report.

No gRPC here. The helper starts once the pool is ready, is restarted when it dies (after a
pause if it died young), and is asked to stop as soon as the master begins to stop; the
master waits for it (`draining`) so that calls in flight get their answers. Its reports
(control command `centrifugo`) feed `supervisor status` and the metrics.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

import zmq

from supervisor.centrifugo.api import API_ENV
from supervisor.centrifugo.events import EVENTS
from supervisor.centrifugo.helper import ProxySpec, run_proxy
from supervisor.centrifugo.settings import CentrifugoConfig
from supervisor.config import Config
from supervisor.errors import StartupError
from supervisor.lifecycle.helper import Helper
from supervisor.lifecycle.service import Handler

log = logging.getLogger("supervisor.centrifugo")

COMMAND = "centrifugo"
_STATES = ("serving", "stopping", "stopped", "cannot listen")


def check_listen(address: str) -> None:
    """Raise OSError if nothing could listen on `HOST:PORT` (another listener holds it)."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, int(port)))


def api_environment(section: CentrifugoConfig) -> dict[str, str]:
    """What `supervisor.centrifugo.api()` reads in a worker."""
    return {API_ENV: json.dumps({"address": section.api_address, "key": section.api_key,
                                 "timeout": section.api_timeout})}


class ProxyService:
    """The `supervisor: centrifugo` process of a master whose config has the section.

    Constructed before any child starts: it puts the API settings in the environment the
    workers inherit, and refuses to start the master (StartupError) when `proxy_listen`
    is taken.
    """

    name = "centrifugo"

    def __init__(self, config: Config, poller: zmq.Poller,
                 record: Callable[[str, str, int], None]) -> None:
        """`record(event, status, count)` adds calls to the metrics."""
        self.config = config
        self.section: CentrifugoConfig = config.centrifugo
        self.record = record
        os.environ.update(api_environment(self.section))
        if self.enabled:
            try:
                check_listen(self.section.grpc_address)
            except OSError as exc:
                raise StartupError(f"centrifugo.proxy_listen {self.section.proxy_listen}: "
                                   f"{exc.strerror or exc}") from None
        self.process = Helper("centrifugo", config.pool.start_method, run_proxy,
                              lambda: (self._spec(),), poller)
        self.started = False
        self.state = "waiting for the pool" if self.enabled else "off (no handlers)"
        self.error: str | None = None
        self.calls: dict[str, dict[str, int]] = {}
        self._reported: dict[str, dict[str, int]] = {}
        self._reporter_pid: int | None = None

    @property
    def enabled(self) -> bool:
        """Whether a proxy runs at all (a section with no handlers only configures the API)."""
        return bool(self.section.handlers)

    def _spec(self) -> ProxySpec:
        section, config = self.section, self.config
        credentials = section.credentials
        return ProxySpec(
            address=section.grpc_address, listen=section.proxy_listen, timeout=section.timeout,
            max_concurrent=section.max_concurrent,
            credentials=None if credentials is None else (credentials.key, credentials.value),
            events=list(section.handlers), pool=config.listen,
            control=config.control_endpoint, log_endpoint=config.log_endpoint,
            log_level=config.log.level, grace=config.pool.destroy_timeout)

    # --- the Service protocol ---

    def sockets(self) -> dict[zmq.Socket, Handler]:
        return {}

    def pool_ready(self, now: float) -> None:
        if self.enabled and not self.started and not self.process.stopped:
            self.started = True
            self.state = "starting"
            self.process.start(now)

    def after_poll(self, events: dict[Any, int], now: float) -> None:
        self.process.after_poll(events, now)
        if self.started and not self.process.stopped and not self.process.running:
            self.state = "restarting"

    def next_deadline(self) -> float | None:
        return self.process.restart_at

    def stop(self) -> None:
        self.process.stop()

    def draining(self) -> bool:
        return self.process.running

    def close(self) -> None:
        self.process.close()

    # --- reports and status ---

    def command(self, args: dict[str, Any]) -> dict[str, Any]:
        """The `centrifugo` control command: the helper's state and cumulative call counts."""
        state, pid = args.get("state"), args.get("pid")
        if state in _STATES:
            self.state = state
            error = args.get("error")
            self.error = error if isinstance(error, str) else None
        calls = args.get("calls")
        if isinstance(calls, dict) and isinstance(pid, int):
            self._take_counts(pid, calls)
        return {"pid": os.getpid()}

    def _take_counts(self, pid: int, calls: dict[str, Any]) -> None:
        """Add what grew since this helper's last report (a new helper starts from zero)."""
        if pid != self._reporter_pid:
            self._reporter_pid, self._reported = pid, {}
        for event, statuses in calls.items():
            if event not in EVENTS or not isinstance(statuses, dict):
                continue
            before = self._reported.setdefault(event, {})
            for status, count in statuses.items():
                if not isinstance(count, int) or isinstance(count, bool) or len(status) > 32:
                    continue
                grown = count - before.get(status, 0)
                if grown > 0:
                    before[status] = count
                    totals = self.calls.setdefault(event, {})
                    totals[status] = totals.get(status, 0) + grown
                    self.record(event, status, grown)

    def status(self) -> dict[str, Any]:
        """The `centrifugo` section of `supervisor status`."""
        return {"address": self.section.proxy_listen if self.enabled else None,
                "state": self.state, "pid": self.process.pid,
                "events": list(self.section.handlers), "calls": self.calls,
                "error": self.error, "api": self.section.api_address}
