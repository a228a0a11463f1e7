"""The metrics address's other pages: /healthz and /readyz through a master's life, 404s."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request

from supervisor import Client
from tests.ops_support import cli
from tests.support import wait_until


def get(url: str) -> tuple[int, dict | str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            code, body, kind = response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        code, body, kind = exc.code, exc.read(), exc.headers["Content-Type"]
    return code, json.loads(body) if kind == "application/json" else body.decode()


def base_url(master) -> str:
    return master.wait_for(r"status page (http://\S+/)").group(1)


def test_health_and_readiness_through_start_degraded_and_stopping(start_master):
    """A pool stuck importing (start_timeout 1s): starting, then degraded with the reason."""
    stuck = start_master(ready=False, env={"SLOW_IMPORT_SECONDS": "30"},
                         handlers={"ok": "tests.slow_import:ok"},
                         pool={"num_workers": 1, "start_timeout": "1s"},
                         metrics={"address": "127.0.0.1:0"})
    url = base_url(stuck)
    assert get(url + "healthz")[0] == 200
    code, ready = get(url + "readyz")
    assert (code, ready["ready"], ready["state"]) == (503, False, "starting")
    stuck.wait_for(r"worker 0 \(pid \d+\) did not become ready within pool.start_timeout 1s "
                   r"\(stuck importing its handlers\?\); killing it")
    stuck.wait_for(r"pool degraded: worker 0 fails at start \(did not become ready within "
                   r"pool.start_timeout 1s")
    stuck.wait_for(r"worker 0 failed at start .*next try in 0\.20s")
    code, ready = get(url + "readyz")
    assert (code, ready["state"]) == (503, "degraded")
    status = cli("status", "--json", "-c", str(stuck.config_path))
    assert status.returncode == 1
    assert "start_timeout 1s" in json.loads(status.stdout)["pool"]["last_failure"]
    assert json.loads(status.stdout)["restarts"]["failed_start"] >= 2


def test_ready_then_stopping_and_unknown_paths(start_master):
    master = start_master(pool={"num_workers": 1, "destroy_timeout": "10s"},
                          metrics={"address": "127.0.0.1:0"})
    url = base_url(master)
    assert get(url + "healthz") == (200, {"alive": True, "pid": master.pid, "version": "0.1.0",
                                          "listen": master.endpoint})
    assert get(url + "readyz") == (200, {"ready": True, "state": "running"})
    code, missing = get(url + "nothing/here")
    assert code == 404 and "/readyz" in missing["pages"]
    assert get(url + "metrics")[0] == 200 and "supervisor_workers" in get(url + "metrics")[1]
    with Client(master.endpoint) as client:
        client._sock.send_multipart([b"\x01", b"sleep", b"2"])
        master.wait_for(r"stdout: sleeping 2s")
        master.signal(signal.SIGTERM)
        master.wait_for(r"stopping: draining 1 running")
        assert get(url + "healthz")[0] == 200
        assert get(url + "readyz") == (503, {"ready": False, "state": "stopping"})
        assert client._sock.poll(10_000)
    assert master.wait_exit(15) == 0
    wait_until(lambda: _refused(url + "healthz"), timeout=5)


def _refused(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)
    except urllib.error.URLError as exc:
        return not isinstance(exc, urllib.error.HTTPError)
    return False


def test_queue_wait_histogram(start_master):
    from prometheus_client.parser import text_string_to_metric_families

    master = start_master(pool={"num_workers": 1}, metrics={"address": "127.0.0.1:0"})
    url = base_url(master)
    with Client(master.endpoint) as client:
        for i in range(2):  # the second waits for the first: about 0.5 s in the queue
            client._sock.send_multipart([bytes([i]), b"sleep", b"0.5"])
        for _ in range(2):
            assert client._sock.poll(10_000)
            client._sock.recv_multipart()
    samples = {(s.name, s.labels.get("le")): s.value
               for family in text_string_to_metric_families(get(url + "metrics")[1])
               for s in family.samples if s.name.startswith("supervisor_queue_wait_seconds")}
    assert samples["supervisor_queue_wait_seconds_count", None] == 2
    assert 0.4 <= samples["supervisor_queue_wait_seconds_sum", None] < 5.0
    assert samples["supervisor_queue_wait_seconds_bucket", "0.005"] == 1  # the first did not wait
