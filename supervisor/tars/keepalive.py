"""The keepalive reporter: tells the Tars node the service is alive, and only while it is.

The node stops and restarts a server whose adapters go quiet for longer than its heartbeat
timeout, so a report must mean "the master answers and has a live worker", never merely "this
process exists". The caller injects that check as `probe()`; while it says no, nothing is sent
and the node's own timeout does the rest. Reports fall on `start + k * interval`; a node that
does not answer is retried each interval, logged once when it goes away and once when it comes
back, and no round blocks longer than the call timeout (the node endpoint's `-t`, capped at the
interval so a slow node never delays the next round).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from supervisor.tars.codec import NODE_SERVANT, TARS_VERSION
from supervisor.tars.conf import Endpoint, TarsServerConf
from supervisor.tars.node import NodeClient, NodeError

ADMIN_ADAPTER = "AdminAdapter"
"""Every Tars server has it; the node expects it to report like any other adapter."""

log = logging.getLogger("supervisor.keepalive")


class ServerFClient(Protocol):
    """What the reporter needs from a node client (NodeClient, or a fake in tests)."""

    def keep_alive(
        self, app: str, server: str, pid: int, adapter: str = "", *, timeout: float | None = None
    ) -> int: ...

    def report_version(
        self, app: str, server: str, version: str, *, timeout: float | None = None
    ) -> int: ...

    def close(self) -> None: ...


class KeepAlive:
    """Reporter state and schedule; `run(stop_event)` drives it, `poll()` is one step of that.

    `state` is `starting` until the first round, then `ok`, `unreachable` (the last round failed)
    or `paused` (the probe said the service is not alive, so nothing was sent).
    """

    def __init__(
        self,
        *,
        app: str,
        server: str,
        adapters: Sequence[str],
        node: Endpoint,
        probe: Callable[[], bool],
        pid: int,
        interval: float,
        app_version: str = "",
        packet_version: int = TARS_VERSION,
        oneway: bool = False,
        node_servant: str = NODE_SERVANT,
        client: ServerFClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if interval <= 0:
            raise ValueError("keepalive interval must be > 0")
        self.app = app
        self.server = server
        self.adapters = [a for a in adapters if a != ADMIN_ADAPTER] + [ADMIN_ADAPTER]
        self.node = node
        self.node_servant = node_servant
        self.pid = pid
        self.interval = interval
        self.app_version = app_version
        self.call_timeout = min(node.timeout, interval)
        self._probe = probe
        self._clock = clock
        self._wall = wall
        self._client: ServerFClient = client or NodeClient(
            node, node_servant, version=packet_version, oneway=oneway, timeout=self.call_timeout
        )
        self._version_reported = False
        self._next_due: float | None = None
        self.state = "starting"
        self.last_success: float | None = None
        self.last_error: str | None = None
        self.reports = 0
        self.failures = 0
        self.missed = 0
        self.rounds = 0
        self.last_result: str | None = None

    @classmethod
    def from_conf(cls, conf: TarsServerConf, **kwargs: Any) -> KeepAlive:
        """Reporter for the server a Tars conf describes: its app, server, adapters and node."""
        return cls(
            app=conf.app,
            server=conf.server,
            adapters=[a.name for a in conf.adapters],
            node=conf.node,
            node_servant=conf.node_servant,
            **kwargs,
        )

    def report_round(self) -> bool:
        """Probe, then reportVersion (until it once succeeded) and keepAlive for each adapter.

        True when everything was reported; a failure stops the round at once, since the next
        adapter would only wait on the same dead node. `last_result` says how the round ended:
        `ok`, `paused`, `rejected` or `unreachable`.
        """
        self.rounds += 1
        try:
            alive = bool(self._probe())
        except Exception as exc:
            log.debug("keepalive probe raised %s: %s", type(exc).__name__, exc)
            alive = False
        if not alive:
            self.last_result = "paused"
            self._enter("paused", None)
            return False
        deadline = self._clock() + self.call_timeout
        try:
            if not self._version_reported:
                self._client.report_version(
                    self.app, self.server, self.app_version, timeout=self._left(deadline)
                )
                self._version_reported = True
            for adapter in self.adapters:
                self._client.keep_alive(
                    self.app, self.server, self.pid, adapter, timeout=self._left(deadline)
                )
        except NodeError as exc:
            self.failures += 1
            self.last_error = str(exc)
            self.last_result = "rejected" if exc.kind == "rejected" else "unreachable"
            self._enter("unreachable", exc)
            return False
        self.reports += 1
        self.last_success = self._wall()
        self.last_result = "ok"
        self._enter("ok", None)
        return True

    def poll(self) -> float:
        """Run a round if one is due; return the seconds until the next one is."""
        now = self._clock()
        if self._next_due is None or now >= self._next_due:
            base = now if self._next_due is None else self._next_due
            self.report_round()
            after = self._clock()
            slots = max(1, math.floor((after - base) / self.interval) + 1)
            self.missed += slots - 1
            self._next_due = base + slots * self.interval
        return max(0.0, self._next_due - self._clock())

    def run(self, stop: threading.Event, on_round: Callable[[], None] = lambda: None,
            still: Callable[[], bool] = lambda: True, max_wait: float = 1.0) -> None:
        """Report until `stop` is set or `still()` turns false, calling `on_round` after each
        round; returns within one call timeout of either."""
        try:
            while not stop.is_set() and still():
                rounds = self.rounds
                delay = self.poll()
                if self.rounds != rounds:
                    on_round()
                stop.wait(min(delay, max_wait))
        finally:
            self.close()

    def close(self) -> None:
        """Close the connection to the node (a later round opens a new one)."""
        self._client.close()

    def snapshot(self) -> dict[str, Any]:
        """Counters for `supervisor status`."""
        return {
            "state": self.state,
            "node": f"{self.node_servant}@{self.node}",
            "interval": self.interval,
            "adapters": list(self.adapters),
            "last_success": self.last_success,
            "last_error": self.last_error,
            "reports": self.reports,
            "failures": self.failures,
            "missed": self.missed,
        }

    def _left(self, deadline: float) -> float:
        left = deadline - self._clock()
        if left <= 0:
            raise NodeError("timeout", f"keepalive round ran past {self.call_timeout:g}s")
        return left

    def _enter(self, state: str, error: NodeError | None) -> None:
        previous, self.state = self.state, state
        if state == previous:
            return
        if state == "unreachable":
            what = "rejected the keepalive" if error and error.kind == "rejected" else "unreachable"
            log.warning("tars node %s, retrying every %gs: %s", what, self.interval, error)
        elif state == "paused" and previous == "starting":
            log.info("keepalive waiting: the master is not ready or has no live worker yet")
        elif state == "paused":
            log.warning("keepalive paused: the master is not answering or has no live worker")
        elif previous == "unreachable":
            log.info("tars node recovered: keepalive to %s ok", self.node)
        elif previous == "paused":
            log.info("keepalive resumed")
