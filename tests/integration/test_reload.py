"""`supervisor reload` and SIGHUP: the config is re-read and applied in place, or refused whole."""

from __future__ import annotations

import json
import signal
import time

import pytest
import yaml

from supervisor import Client
from supervisor.config import changes, load
from supervisor.errors import BadRequest
from tests.ops_support import cli
from tests.support import wait_until


def _edit(master, change) -> None:
    settings = yaml.safe_load(master.config_path.read_text())
    change(settings)
    master.config_path.write_text(yaml.safe_dump(settings))


def test_reload_adds_a_handler_under_load_without_a_failed_request(start_master, start_load):
    master = start_master(pool={"num_workers": 2})
    load = start_load(master.endpoint, clients=2, handler="echo").wait_running()
    with Client(master.endpoint) as client:
        with pytest.raises(BadRequest, match="unknown handler 'added'"):
            client.exec("added", b"x")
        _edit(master, lambda s: s["handlers"].update(added="tests.handlers:whoami"))
        reloaded = cli("reload", "-c", str(master.config_path))
        assert reloaded.returncode == 0, reloaded.stderr
        assert "changed handlers; replacing 2 workers" in reloaded.stdout
        deadline = time.monotonic() + 2.0
        while True:
            try:
                reply = client.exec("added", b"x", timeout=2.0)
                break
            except BadRequest:
                assert time.monotonic() < deadline, "the new handler did not answer within 2s"
                time.sleep(0.02)
        assert json.loads(reply)["mode"] == "worker"
    outcomes, _ = load.stop()
    assert set(outcomes) == {"ok"}, outcomes
    master.wait_for(r"reload: .*changed handlers; replacing 2 workers")


def test_reload_refuses_a_bad_config_and_keeps_serving(start_master):
    master = start_master(pool={"num_workers": 1})
    original = master.config_path.read_text()
    master.config_path.write_text(original + "pool: {num_workers: -1}\n")
    bad = cli("reload", "-c", str(master.config_path))
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "pool.num_workers: expected an integer >= 0" in lines[0]

    master.config_path.write_text(original)
    _edit(master, lambda s: s["server"].update(listen=s["server"]["listen"] + ".new"))
    refused = cli("reload", "-c", str(master.config_path))
    assert refused.returncode == 2
    assert "server.listen: changed from" in refused.stderr and "restart" in refused.stderr
    master.wait_for(r"reload refused, keeping the running config: .*server\.listen")

    master.config_path.write_text(original)
    _edit(master, lambda s: s["handlers"].update(missing="tests.no_such_module:f"))
    unimportable = cli("reload", "-c", str(master.config_path))
    assert unimportable.returncode == 2, unimportable.stderr
    assert "handlers.missing: cannot import module 'tests.no_such_module'" in unimportable.stderr
    with Client(master.endpoint) as client:
        assert client.exec("echo", b"still here") == b"still here"
        with pytest.raises(BadRequest):
            client.exec("missing", b"x")
    assert master.count(r"reload: \S+: changed") == 0


def test_hup_reloads_pool_size_limits_and_schedules(start_master, tmp_path):
    master = start_master(pool={"num_workers": 1},
                          env={"TICK_LOG": str(tmp_path / "ticks.jsonl")})
    _edit(master, lambda s: (s["pool"].update(num_workers=2, max_queue_size=5),
                             s["handlers"].update(tick="tests.handlers:record_tick"),
                             s.update(ticker={"interval": "100ms", "handler": "tick"})))
    master.signal(signal.SIGHUP)
    master.wait_for(r"reload: .*changed handlers, schedules, pool\.num_workers, "
                    r"pool\.max_queue_size")
    wait_until(lambda: sorted(master.worker_pids()) == [0, 1], timeout=10)
    wait_until(lambda: (tmp_path / "ticks.jsonl").exists() and
               len((tmp_path / "ticks.jsonl").read_text().splitlines()) >= 2, timeout=10)
    status = cli("status", "--json", "-c", str(master.config_path))
    assert '"ticker"' in status.stdout


def test_what_a_reload_may_change(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("handlers: {a: 'x:y'}\npool: {num_workers: 2}\n")
    old = load(path)
    path.write_text("handlers: {a: 'x:y', b: 'x:z'}\npool: {num_workers: 3, "
                    "supervisor: {ttl: 10s}}\nserver: {log: {level: debug}}\n")
    new = load(path)
    assert changes.refused(old, new) is None
    assert changes.changed(old, new) == ["handlers", "server.log.level", "pool.num_workers",
                                         "pool.supervisor.ttl"]
    path.write_text("server: {run_dir: elsewhere}\n")
    assert changes.refused(old, load(path)).startswith("server.run_dir: changed from ")
    path.write_text("metrics: {address: ':9100'}\n")
    assert changes.refused(old, load(path)).startswith("metrics.address: changed from None")
    daemonised = changes.carry_over(old, old)
    assert daemonised == old
