"""Counters for operators, and the optional Prometheus endpoint (`metrics.address`).

The master always counts (requests, restarts, ticks, keepalive results) because
`supervisor status` shows the same numbers; prometheus-client is imported only
when an address is configured. Gauges (workers by state, RSS, queue length) are
read from the pool when scraped, so the master loop pays nothing for them.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import psutil

from supervisor.config.values import split_address

log = logging.getLogger("supervisor.metrics")

# Buckets for handler run time, in seconds: 1 ms to 2 minutes.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0, 60.0, 120.0)
# Buckets for the wait in the queue: none at all for most requests, up to allocate_timeout.
WAIT_BUCKETS = (0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                60.0)
RECENT_RESTARTS = 20


class WorkerView(NamedTuple):
    """What a scrape needs to know about one worker, copied from the pool by the master."""

    id: int
    pid: int | None
    state: str


class Metrics:
    """Event counts kept in the master; exported over HTTP when `address` is set."""

    def __init__(self, address: str | None, workers: Callable[[], list[WorkerView]],
                 queue_length: Callable[[], int]) -> None:
        self.address = address
        self.requests: Counter[tuple[str, str]] = Counter()
        self.restarts: Counter[str] = Counter()
        self.ticks: Counter[tuple[str, str]] = Counter()
        self.keepalives: Counter[str] = Counter()
        self.claims: Counter[str] = Counter()
        self.cluster: dict[str, Any] = {}
        self.recent_restarts: deque[dict[str, Any]] = deque(maxlen=RECENT_RESTARTS)
        self.proxy_calls: Counter[tuple[str, str]] = Counter()
        self._workers = workers
        self._queue_length = queue_length
        self._exporter: _Exporter | None = None
        self.server: Any = None
        self.url: str | None = None

    def start(self, control_endpoint: str | None = None) -> None:
        """Bind the HTTP endpoint; an address already in use raises OSError."""
        if not self.address:
            return
        from supervisor.ops.web import WebServer

        self._exporter = _Exporter(self)
        host, port = split_address(self.address)
        self.server = WebServer(host, port, control_endpoint, self._exporter.exposition)
        self.url = self.server.url + "metrics"
        log.info("metrics on %s (status page %s, health checks %shealthz and %sreadyz)",
                 self.url, self.server.url, self.server.url, self.server.url)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    # --- events, called from the master loop ---

    def request(self, handler: str, outcome: str, seconds: float | None,
                waited: float | None = None) -> None:
        """One request answered: `outcome` is `ok` or an error code; `seconds` its run time,
        `waited` the time from its arrival to its dispatch to a worker."""
        self.requests[handler, outcome] += 1
        if self._exporter is not None:
            self._exporter.request(handler, outcome, seconds, waited)

    def restart(self, reason: str, detail: str = "") -> None:
        """A replacement worker starts; `reason` is its kind, `detail` which worker and why."""
        self.restarts[reason] += 1
        self.recent_restarts.append({"at": time.time(), "reason": reason, "detail": detail})
        if self._exporter is not None:
            self._exporter.restarts.labels(reason).inc()

    def tick(self, schedule: str, outcome: str, count: int = 1) -> None:
        """`count` ticks of `schedule` ended as `outcome` (delivered, failed, overlap, late...)."""
        self.ticks[schedule, outcome] += count
        if self._exporter is not None:
            self._exporter.ticks.labels(schedule, outcome).inc(count)

    def keepalive(self, result: str) -> None:
        """One keepalive report ended as `result` (ok, rejected, unreachable, ...)."""
        self.keepalives[result] += 1
        if self._exporter is not None:
            self._exporter.keepalives.labels(result).inc()

    def cluster_claims(self, result: str, count: int) -> None:
        """`count` more claims of singleton slots ended as `result` (won, taken, fenced...)."""
        if count <= 0:
            return
        self.claims[result] += count
        if self._exporter is not None:
            self._exporter.claims.labels(result).inc(count)

    def cluster_state(self, state: dict[str, Any]) -> None:
        """The coordinator's latest view: engine up, which schedules this node leads."""
        self.cluster = state

    def centrifugo(self, event: str, status: str, count: int) -> None:
        """`count` Centrifugo proxy calls of `event` ended with gRPC `status` (OK, INTERNAL...)."""
        self.proxy_calls[event, status] += count
        if self._exporter is not None:
            self._exporter.proxy_calls.labels(event, status).inc(count)

    # --- views for status and the scrape ---

    def workers(self) -> list[WorkerView]:
        return self._workers()

    def queue_length(self) -> int:
        return self._queue_length()


def _rss(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        return float(psutil.Process(pid).memory_info().rss)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


class _Exporter:
    """prometheus-client objects in a registry of their own (no global state)."""

    def __init__(self, metrics: Metrics) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram
        from prometheus_client.process_collector import ProcessCollector

        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry, namespace="supervisor_master")
        self.requests = Counter("supervisor_requests", "Requests answered, by handler and "
                                "outcome (ok or error code)", ["handler", "outcome"],
                                registry=self.registry)
        self.latency = Histogram("supervisor_exec_seconds", "Time a worker spent on a request",
                                 ["handler"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.queue_wait = Histogram("supervisor_queue_wait_seconds", "Time a request waited "
                                    "from its arrival to its dispatch to a worker", ["handler"],
                                    buckets=WAIT_BUCKETS, registry=self.registry)
        self.restarts = Counter("supervisor_worker_restarts", "Worker processes replaced, "
                                "by reason", ["reason"], registry=self.registry)
        self.ticks = Counter("supervisor_ticks", "Ticks by schedule and outcome",
                             ["schedule", "outcome"], registry=self.registry)
        self.keepalives = Counter("supervisor_keepalive", "Keepalive reports by result",
                                  ["result"], registry=self.registry)
        self.claims = Counter("supervisor_cluster_claims", "Claims of singleton slots by "
                              "result", ["result"], registry=self.registry)
        self.proxy_calls = Counter("supervisor_centrifugo_calls", "Centrifugo proxy calls by "
                                   "event and gRPC status", ["event", "status"],
                                   registry=self.registry)
        self.registry.register(_PoolCollector(metrics))

    def request(self, handler: str, outcome: str, seconds: float | None,
                waited: float | None) -> None:
        self.requests.labels(handler, outcome).inc()
        if seconds is not None:
            self.latency.labels(handler).observe(seconds)
        if waited is not None:
            self.queue_wait.labels(handler).observe(waited)

    def exposition(self) -> tuple[bytes, str]:
        """The scrape: Prometheus text format and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _PoolCollector:
    """Gauges read at scrape time: workers by state, per-worker RSS, queue length."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import GaugeMetricFamily

        workers = self.metrics.workers()
        by_state = GaugeMetricFamily("supervisor_workers", "Worker processes by state",
                                     labels=["state"])
        for state in ("starting", "ready", "working", "stopping"):
            by_state.add_metric([state], sum(1 for w in workers if w.state == state))
        yield by_state
        rss = GaugeMetricFamily("supervisor_worker_rss_bytes", "Resident memory of each worker",
                                labels=["worker", "pid"])
        for worker in workers:
            value = _rss(worker.pid)
            if value is not None:
                rss.add_metric([str(worker.id), str(worker.pid)], value)
        yield rss
        yield GaugeMetricFamily("supervisor_queue_length", "Requests waiting for a free worker",
                                value=self.metrics.queue_length())
        yield from _cluster_gauges(self.metrics.cluster)


def _cluster_gauges(state: dict[str, Any]) -> Iterable[Any]:
    """Engine up, and per singleton schedule whether this node leads it (with a cluster)."""
    from prometheus_client.core import GaugeMetricFamily

    if not state:
        return
    yield GaugeMetricFamily("supervisor_cluster_engine_up", "1 while the coordination engine "
                            "answers", value=1.0 if state.get("engine") == "up" else 0.0)
    leader = GaugeMetricFamily("supervisor_cluster_leader", "1 where this node leads the "
                               "singleton schedule", labels=["schedule"])
    for schedule in state.get("schedules") or {}:
        leader.add_metric([str(schedule)], 1.0 if state.get("leader") else 0.0)
    yield leader
