"""Masters with a `centrifugo:` section, and the Node harness acting as Centrifugo."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.centrifugo.harness import ApiStandIn, FakeCentrifugo, free_port, node_binary
from tests.support import MasterProcess, base_config

TOKEN_ENV = {"PROXY_TOKEN": "s3cret-token"}
CREDENTIALS = {"x-proxy-token": TOKEN_ENV["PROXY_TOKEN"]}
H = "tests.centrifugo.handlers"
SERVING = r"serving Centrifugo's proxy on"


def proxy_config(run_dir: Path, port: int, **section) -> dict:
    """A master with every event handled by tests.centrifugo.handlers."""
    config = base_config(run_dir)
    config["interceptors"] = {"*": [f"{H}:trace_global"]}
    config["centrifugo"] = {
        "proxy_listen": f"tcp://127.0.0.1:{port}", "timeout": "5s", "max_concurrent": 256,
        "credentials": {"key": "x-proxy-token", "value": "${PROXY_TOKEN}"},
        "handlers": {"connect": f"{H}:on_connect", "refresh": f"{H}:on_refresh",
                     "subscribe": f"{H}:on_subscribe", "publish": f"{H}:on_publish",
                     "rpc": f"{H}:on_rpc", "sub_refresh": f"{H}:on_sub_refresh"},
        "interceptors": {"*": [f"{H}:trace_star"], "rpc": [f"{H}:trace_rpc"]},
        **section,
    }
    return config


class ProxyMaster:
    """A running master whose helper serves the proxy on `target`; `top` adds config sections."""

    def __init__(self, top: dict | None = None, **section) -> None:
        self.run_root = Path(tempfile.mkdtemp(prefix="sv-cf-"))
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        config = proxy_config(self.run_root / "run", self.port, **section)
        self.master = MasterProcess({**config, **(top or {})}, env=TOKEN_ENV)
        self.master.wait_ready()
        self.master.wait_for(SERVING)

    def close(self) -> None:
        self.master.stop()
        shutil.rmtree(self.master.dir, ignore_errors=True)
        shutil.rmtree(self.run_root, ignore_errors=True)


@pytest.fixture(scope="session")
def node() -> str:
    return node_binary()


@pytest.fixture(scope="module")
def proxy(node) -> Iterator[ProxyMaster]:
    master = ProxyMaster(top={"metrics": {"address": f"127.0.0.1:{free_port()}"}})
    yield master
    master.close()


@pytest.fixture(scope="module")
def centrifugo(node, proxy) -> Iterator[FakeCentrifugo]:
    fake = FakeCentrifugo(node, proxy.target)
    yield fake
    fake.close()


@pytest.fixture
def api_standin(node) -> Iterator[ApiStandIn]:
    standin = ApiStandIn(node, "api-key-1")
    yield standin
    standin.close()
