"""The Tars conf over the YAML: what each conf value becomes, and errors that name the line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from supervisor.errors import ConfigError
from supervisor.ops.access import PeerFilter
from supervisor.tars import settings
from supervisor.tars.conf import load, parse_endpoint
from supervisor.tars.standin import DEFAULT_LISTEN
from tests.ops_support import cli
from tests.support import ROOT, base_config
from tests.tars.confs import APP, HTTP, OBJ, SERVER, conf_text, write_conf


def _yaml(directory: Path, **overrides) -> Path:
    path = directory / "supervisor.yaml"
    path.write_text(yaml.safe_dump(base_config(directory / "run", **overrides)))
    return path


def test_conf_values_override_the_yaml(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, node_port=19386, obj_port=9100, threads=3, allow="10.0.0.7",
                      datapath=tmp_path / "data", logpath=tmp_path / "log")
    config = settings.load(_yaml(tmp_path, tars={"config": str(conf)}))
    assert config.tars is not None and config.tars_config == str(conf)
    assert (config.tars.app, config.tars.server) == (APP, SERVER)
    assert [a.name for a in config.tars.adapters] == [OBJ, HTTP]
    assert config.run_dir == tmp_path / "data"
    assert config.control_endpoint == f"ipc://{tmp_path}/data/control.sock"
    assert config.log.file == f"{tmp_path}/log/{APP}/{SERVER}/{APP}.{SERVER}.log"
    assert config.listen == "tcp://127.0.0.1:9100"
    assert config.pool.num_workers == 3
    assert config.allow == ["10.0.0.7"]
    assert config.keepalive_enabled is True
    assert config.handlers["echo"] == "tests.handlers:echo"


def test_what_the_conf_does_not_say_stays_as_the_yaml_says(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, node_port=19386, obj_port=9100, threads=None)
    config = settings.load(_yaml(tmp_path, pool={"num_workers": 4},
                                      keepalive={"enabled": False, "interval": "5s"}),
                                str(conf))
    assert config.pool.num_workers == 4
    assert config.run_dir == tmp_path / "run" and config.log.file is None
    assert config.keepalive_enabled is False and config.keepalive_interval == 5.0
    assert config.allow == []


def test_keepalive_needs_a_tars_conf(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"keepalive\.enabled: needs tars\.config"):
        settings.load(_yaml(tmp_path, keepalive={"enabled": True}))
    assert settings.load(_yaml(tmp_path)).keepalive_enabled is None


@pytest.mark.parametrize(("change", "line", "message"), [
    (("endpoint=tcp -h 127.0.0.1 -p 9100", "endpoint=udp -h 127.0.0.1 -p 9100"), 13,
     "served over tcp only"),
    (("endpoint=tcp -h 127.0.0.1 -p 9100", "endpoint=tcp -h 127.0.0.1 -p 0"), 13,
     "port above 0"),
    (("allow=10.0.0.7", "allow=10.0.0.7;not-an-ip"), 12, "'not-an-ip' is not an IP"),
    (("threads=2", "threads=many"), 17, "threads='many' is not a whole number"),
])
def test_unusable_values_name_their_line(tmp_path: Path, change, line, message) -> None:
    text = conf_text(node_port=19386, obj_port=9100, allow="10.0.0.7").replace(*change)
    conf = tmp_path / "bad.conf"
    conf.write_text(text)
    with pytest.raises(ConfigError) as caught:
        settings.load(_yaml(tmp_path, tars={"config": str(conf)}))
    assert str(caught.value).startswith(f"{conf}:{line}: ")
    assert message in str(caught.value)


def test_check_and_the_platform_entry_report_a_bad_conf_in_one_line(tmp_path: Path) -> None:
    conf = tmp_path / "broken.conf"
    conf.write_text(conf_text(node_port=1, obj_port=2).replace("</server>", "</servr>"))
    yaml_path = _yaml(tmp_path, tars={"config": str(conf)})
    checked = cli("check", "-c", str(yaml_path))
    started = cli(f"--config={conf}", "start", env={"SUPERVISOR_CONFIG": str(yaml_path)})
    for result in (checked, started):
        assert result.returncode == 2, result
        assert result.stderr.count("\n") == 1
        assert f"{conf}:26: </servr> does not match <server>" in result.stderr


def test_check_validates_the_tars_conf_too(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, node_port=19386, obj_port=9100, threads=3)
    checked = cli("check", "-c", str(_yaml(tmp_path)), "--tars", str(conf))
    assert checked.returncode == 0, checked.stderr
    assert f"{conf}: OK (App.Server, listen tcp://127.0.0.1:9100, 2 adapters" in checked.stdout


def test_entry_usage_and_a_missing_yaml(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, node_port=19386, obj_port=9100, basepath=tmp_path)
    assert cli(f"--config={conf}", "start", "now").returncode == 2
    env = {key: value for key, value in os.environ.items() if key != "SUPERVISOR_CONFIG"}
    missing = subprocess.run([sys.executable, "-m", "supervisor", f"--config={conf}", "stop"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert missing.returncode == 2
    assert "no conf/supervisor.yaml in" in missing.stderr and "SUPERVISOR_CONFIG" in missing.stderr


def test_peer_filter() -> None:
    assert PeerFilter([]).allows("192.0.2.1")
    peers = PeerFilter(["127.0.0.1", "10.1.*"])
    assert peers.allows("127.0.0.1") and peers.allows("::ffff:127.0.0.1")
    assert peers.allows("10.1.2.3") and not peers.allows("10.2.0.1")
    assert not peers.allows("127.0.0.2")
    with pytest.raises(ValueError, match="not an IP address"):
        PeerFilter(["localhost"])


def test_the_example_conf_points_at_the_stand_in_with_two_adapters() -> None:
    example = load(ROOT / "conf" / "tars.example.conf")
    assert len(example.adapters) == 2
    assert example.node == parse_endpoint(DEFAULT_LISTEN + " -t 60000")
    checked = cli("check", "--tars", str(ROOT / "conf" / "tars.example.conf"))
    assert checked.returncode == 0, checked.stderr
    assert "2 workers" in checked.stdout and "listen tcp://127.0.0.1:19401" in checked.stdout
