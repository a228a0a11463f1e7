"""What `check` accepts, `run` can use: hosts, ports and thread counts of a Tars conf are checked
when the config is read, names are resolved by `check`, and `*` means loopback as in the YAML."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from supervisor.errors import ConfigError
from supervisor.tars import settings
from tests.ops_support import cli
from tests.support import base_config
from tests.tars.confs import OBJ, conf_text, free_port

OBJ_ENDPOINT = "endpoint=tcp -h 127.0.0.1 -p 9100"
NODE = "ServerObj@tcp -h 127.0.0.1 -p 19386"


def _files(tmp_path: Path, change: tuple[str, str] = ("", "")) -> tuple[Path, Path]:
    conf = tmp_path / "App.Server.config.conf"
    conf.write_text(conf_text(node_port=19386, obj_port=9100).replace(*change))
    path = tmp_path / "supervisor.yaml"
    path.write_text(yaml.safe_dump(base_config(tmp_path / "run", tars={"config": str(conf)})))
    return conf, path


@pytest.mark.parametrize(("change", "line", "message"), [
    ((OBJ_ENDPOINT, "endpoint=tcp -h 127.0.0.1;evil -p 9100"), 13,
     "-h expected an IP address or a host name, got '127.0.0.1;evil'"),
    ((NODE, "ServerObj@tcp -h bad_host! -p 19386"), 6, "got 'bad_host!'"),
    ((NODE, "ServerObj@tcp -h 127.0.0.1 -p 0"), 6, "node: needs the node's host and a port"),
    ((OBJ_ENDPOINT, "endpoint=tcp -h 127.0.0.1 -p 70000"), 13, "-p PORT between 0 and 65535"),
    (("threads=2", "threads=100000"), 17, f"<{OBJ}> threads: expected 0..1024, got 100000"),
])
def test_values_run_could_not_use_are_refused_with_their_line(tmp_path, change, line, message):
    conf, yaml_path = _files(tmp_path, change)
    with pytest.raises(ConfigError) as caught:
        settings.load(yaml_path)
    assert str(caught.value).startswith(f"{conf}:{line}: ")
    assert message in str(caught.value)
    checked = cli("check", "-c", str(yaml_path))
    assert checked.returncode == 2 and checked.stderr.count("\n") == 1, checked.stderr


def test_a_star_host_means_loopback_as_in_the_yaml(tmp_path):
    _, yaml_path = _files(tmp_path, (OBJ_ENDPOINT, "endpoint=tcp -h * -p 9100"))
    assert settings.load(yaml_path).listen == "tcp://127.0.0.1:9100"


def test_check_resolves_host_names(tmp_path):
    conf, yaml_path = _files(tmp_path, (OBJ_ENDPOINT, "endpoint=tcp -h no-such-host.invalid "
                                                      "-p 9100"))
    checked = cli("check", "-c", str(yaml_path))
    assert checked.returncode == 2, checked.stderr
    assert checked.stderr.count("\n") == 1
    assert f"{conf}: <{OBJ}> endpoint: host 'no-such-host.invalid' does not resolve" in \
        checked.stderr


def test_a_yaml_pool_above_1024_workers_is_refused(tmp_path):
    path = tmp_path / "supervisor.yaml"
    path.write_text(yaml.safe_dump(base_config(tmp_path / "run", pool={"num_workers": 5000})))
    checked = cli("check", "-c", str(path))
    assert checked.returncode == 2
    assert "pool.num_workers: expected an integer <= 1024, got 5000" in checked.stderr


def test_a_listen_address_that_cannot_be_bound_stops_the_start_in_one_line(tmp_path):
    listen = f"tcp://192.0.2.1:{free_port()}"  # TEST-NET-1: no interface has it
    path = tmp_path / "supervisor.yaml"
    path.write_text(yaml.safe_dump(base_config(tmp_path / "run", server={
        "run_dir": str(tmp_path / "run"), "listen": listen})))
    result = cli("run", "-c", str(path), timeout=60)
    assert result.returncode == 1
    assert f"supervisor: server.listen {listen}: cannot bind: " in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
