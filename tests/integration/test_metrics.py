"""The Prometheus endpoint: its series exist and move as requests, restarts and ticks happen."""

import os
import signal
import socket
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from supervisor import Client
from supervisor.config.values import split_address
from supervisor.errors import HandlerError
from supervisor.ops.metrics import Metrics, WorkerView
from tests.ops_support import cli, write_config
from tests.support import wait_until


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample as {(name, sorted labels): value}."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_endpoint_follows_requests_queue_workers_and_restarts(start_master):
    master = start_master(pool={"num_workers": 2}, metrics={"address": "127.0.0.1:0"})
    url = master.wait_for(r"metrics on (http://\S+)").group(1)
    before = scrape(url)
    assert value(before, "supervisor_workers", state="ready") == 2
    assert value(before, "supervisor_requests_total", handler="echo", outcome="ok") == 0
    pids = master.worker_pids()
    for worker_id, pid in pids.items():
        assert value(before, "supervisor_worker_rss_bytes", worker=str(worker_id),
                     pid=str(pid)) > 1 << 20

    with Client(master.endpoint) as client:
        for _ in range(3):
            client.exec("echo", b"x")
        with pytest.raises(HandlerError):
            client.exec("boom", b"x")
        for i in range(3):
            client._sock.send_multipart([bytes([i]), b"sleep", b"0.5"])
        master.wait_count(r"stdout: sleeping 0.5s", 2)
        during = scrape(url)
        assert value(during, "supervisor_queue_length") == 1
        assert value(during, "supervisor_workers", state="working") == 2
        for _ in range(3):
            assert client._sock.poll(10_000)
            client._sock.recv_multipart()
    after = scrape(url)
    assert value(after, "supervisor_requests_total", handler="echo", outcome="ok") == 3
    assert value(after, "supervisor_requests_total", handler="boom", outcome="HandlerError") == 1
    assert value(after, "supervisor_requests_total", handler="sleep", outcome="ok") == 3
    assert value(after, "supervisor_exec_seconds_count", handler="sleep") == 3
    assert value(after, "supervisor_exec_seconds_sum", handler="sleep") >= 1.5
    assert value(after, "supervisor_queue_length") == 0

    os.kill(pids[0], signal.SIGKILL)
    wait_until(lambda: value(scrape(url), "supervisor_worker_restarts_total", reason="crashed")
               == 1, timeout=10, interval=0.1)


def test_ticks_and_keepalive_counters_reach_the_endpoint():
    metrics = Metrics("127.0.0.1:0", lambda: [WorkerView(0, os.getpid(), "ready")], lambda: 4)
    metrics.start()
    try:
        metrics.tick("ticker", "delivered")
        metrics.tick("ticker", "delivered")
        metrics.tick("nightly", "skipped: overlap")
        metrics.keepalive("ok")
        metrics.keepalive("unreachable")
        samples = scrape(metrics.url)
    finally:
        metrics.close()
    assert value(samples, "supervisor_ticks_total", schedule="ticker", outcome="delivered") == 2
    assert value(samples, "supervisor_ticks_total", schedule="nightly",
                 outcome="skipped: overlap") == 1
    assert value(samples, "supervisor_keepalive_total", result="unreachable") == 1
    assert value(samples, "supervisor_queue_length") == 4
    assert value(samples, "supervisor_worker_rss_bytes", worker="0", pid=str(os.getpid())) > 0
    assert metrics.ticks[("ticker", "delivered")] == 2


def test_without_address_nothing_is_served_but_counts_are_kept():
    metrics = Metrics(None, list, lambda: 0)
    metrics.start()
    metrics.request("echo", "ok", 0.01)
    assert metrics.server is None and metrics.url is None
    assert metrics.requests[("echo", "ok")] == 1


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:2112", ("127.0.0.1", 2112)), (":2112", ("127.0.0.1", 2112)),
    ("*:9000", ("127.0.0.1", 9000)), ("[::1]:9000", ("::1", 9000)),
    ("0.0.0.0:80", ("0.0.0.0", 80)),
])
def test_split_address(text, expected):
    assert split_address(text) == expected


@pytest.mark.parametrize("text", ["2112", "host:", "host:port", "h:70000"])
def test_split_address_rejects(text):
    with pytest.raises(ValueError):
        split_address(text)


def test_bad_metrics_address_is_a_config_error(tmp_path):
    config = write_config(tmp_path, metrics={"address": "localhost"})
    result = cli("check", "-c", str(config))
    assert result.returncode == 2
    assert "metrics.address: expected HOST:PORT, got 'localhost'" in result.stderr


def test_metrics_address_in_use_stops_the_start(start_master):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        master = start_master(ready=False, metrics={"address": f"127.0.0.1:{port}"})
        assert master.wait_exit(15) == 1
    master.wait_for(rf"metrics.address '127.0.0.1:{port}': .*in use")
    assert master.count(r"pool ready") == 0


def test_real_ticks_move_the_tick_series(start_master, tmp_path):
    master = start_master(env={"TICK_LOG": str(tmp_path / "ticks.jsonl")},
                          handlers={"tick": "tests.handlers:record_tick"},
                          ticker={"interval": "100ms", "handler": "tick"},
                          metrics={"address": "127.0.0.1:0"})
    url = master.wait_for(r"metrics on (http://\S+)").group(1)
    wait_until(lambda: value(scrape(url), "supervisor_ticks_total", schedule="ticker",
                             outcome="delivered") >= 3, timeout=10, interval=0.1)
