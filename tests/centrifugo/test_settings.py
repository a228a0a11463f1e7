"""The `centrifugo:` config section: defaults, strict checks with key paths, pool wiring."""

from __future__ import annotations

import pytest
import yaml

from supervisor import config as config_module
from supervisor.centrifugo.settings import CentrifugoConfig, apply, parse
from supervisor.errors import ConfigError

H = "app.realtime"


def load(tmp_path, section, **top):
    path = tmp_path / "supervisor.yaml"
    path.write_text(yaml.safe_dump({"server": {"run_dir": str(tmp_path / "run")},
                                    "handlers": {"echo": "app:echo"}, **top,
                                    "centrifugo": section}))
    return apply(config_module.load(path, environ={"TOKEN": "t0k"}))


def test_defaults():
    section = parse({})
    assert section == CentrifugoConfig()
    assert (section.proxy_listen, section.grpc_address) == ("tcp://127.0.0.1:10001",
                                                            "127.0.0.1:10001")
    assert (section.timeout, section.max_concurrent, section.api_timeout) == (5.0, 64, 2.0)
    assert section.credentials is None and section.api_key is None


def test_a_full_section(tmp_path):
    config = load(tmp_path, {
        "proxy_listen": "tcp://*:10050", "timeout": "300ms", "max_concurrent": 8,
        "credentials": {"key": "x-token", "value": "${TOKEN}"},
        "handlers": {"connect": f"{H}:connect", "rpc": f"{H}:rpc"},
        "interceptors": {"*": [f"{H}:outer"], "rpc": [f"{H}:inner"]},
        "api_address": ":10000", "api_key": "k", "api_timeout": "1s"})
    section = config.centrifugo
    assert section.proxy_listen == "tcp://127.0.0.1:10050"
    assert (section.timeout, section.max_concurrent) == (0.3, 8)
    assert (section.credentials.key, section.credentials.value) == ("x-token", "t0k")
    assert "t0k" not in repr(section)
    assert (section.api_address, section.api_key, section.api_timeout) == \
        ("127.0.0.1:10000", "k", 1.0)
    assert config.handlers == {"echo": "app:echo", "centrifugo.connect": f"{H}:connect",
                               "centrifugo.rpc": f"{H}:rpc"}
    assert config.interceptors == {
        "centrifugo.connect": ["supervisor.centrifugo.events:connect", f"{H}:outer"],
        "centrifugo.rpc": ["supervisor.centrifugo.events:rpc", f"{H}:outer", f"{H}:inner"]}


def test_no_section_changes_nothing(tmp_path):
    path = tmp_path / "supervisor.yaml"
    path.write_text(yaml.safe_dump({"handlers": {"echo": "app:echo"}}))
    config = config_module.load(path, environ={})
    assert apply(config) is config
    assert config.centrifugo is None and config.handlers == {"echo": "app:echo"}


@pytest.mark.parametrize(("section", "key", "expected"), [
    ({"proxy_listen": "ipc:///tmp/x"}, "centrifugo.proxy_listen", "tcp://HOST:PORT"),
    ({"proxy_listen": "tcp://h:99999"}, "centrifugo.proxy_listen", "tcp://HOST:PORT"),
    ({"timeout": "0s"}, "centrifugo.timeout", "above zero"),
    ({"max_concurrent": 0}, "centrifugo.max_concurrent", "1..1024"),
    ({"max_concurrent": 5000}, "centrifugo.max_concurrent", "1..1024"),
    ({"credentials": {"key": "X-Token", "value": "v"}}, "centrifugo.credentials.key",
     "lower-case"),
    ({"credentials": {"key": "x-token-bin", "value": "v"}}, "centrifugo.credentials.key",
     "-bin"),
    ({"credentials": {"key": "x-token"}}, "centrifugo.credentials.value", "non-empty"),
    ({"credentials": {"key": "k", "value": "v\n"}}, "centrifugo.credentials.value", "ASCII"),
    ({"credentials": {"key": "k", "value": "v", "x": 1}}, "centrifugo.credentials.x",
     "unknown key"),
    ({"handlers": {"join": "a:b"}}, "centrifugo.handlers.join", "unknown event"),
    ({"handlers": {"rpc": "nocolon"}}, "centrifugo.handlers.rpc", "module:function"),
    ({"handlers": {"rpc": "a:b"}, "interceptors": {"connect": ["a:c"]}},
     "centrifugo.interceptors.connect", "an event with a handler"),
    ({"handlers": {"rpc": "a:b"}, "interceptors": {"rpc": "a:c"}},
     "centrifugo.interceptors.rpc", "a list"),
    ({"api_address": "nowhere"}, "centrifugo.api_address", "HOST:PORT"),
    ({"api_timeout": "soon"}, "centrifugo.api_timeout", "duration"),
    ({"listen": "tcp://:1"}, "centrifugo.listen", "unknown key"),
])
def test_mistakes_name_their_key(tmp_path, section, key, expected):
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, section)
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / 'supervisor.yaml'}: {key}: "), message
    assert expected in message
    assert "\n" not in message


def test_top_level_handlers_cannot_take_the_event_names(tmp_path):
    with pytest.raises(ConfigError, match=r"handlers\.centrifugo\.rpc: .*reserved"):
        load(tmp_path, {}, handlers={"centrifugo.rpc": "app:x"})


def test_the_section_without_the_extra_installed_names_the_extra():
    with pytest.raises(ConfigError, match=r"^centrifugo: .*grpc is not installed.*"
                                          r"zmq-supervisor\[centrifugo\]"):
        parse({}, missing=lambda: "grpc")
