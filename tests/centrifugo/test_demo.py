"""The demo: conf/centrifugo.example.yaml with workers/realtime.py, called as Centrifugo would."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.centrifugo.conftest import SERVING
from tests.centrifugo.harness import FakeCentrifugo, free_port
from tests.centrifugo.test_proxy import b64, ok, unb64
from tests.support import ROOT, MasterProcess

TOKEN = {"x-proxy-token": "demo-proxy-token"}


@pytest.fixture(scope="module")
def demo(node):
    from tests.centrifugo.harness import ApiStandIn

    standin = ApiStandIn(node, "demo-api-key")
    config = yaml.safe_load((ROOT / "conf" / "centrifugo.example.yaml").read_text())
    run_root = Path(tempfile.mkdtemp(prefix="sv-demo-"))
    port = free_port()
    config["server"]["run_dir"] = str(run_root / "run")
    config["centrifugo"].update(proxy_listen=f"tcp://127.0.0.1:{port}",
                                api_address=standin.address)
    master = MasterProcess(config, env={"PROXY_TOKEN": TOKEN["x-proxy-token"],
                                       "CENTRIFUGO_API_KEY": "demo-api-key"},
                           endpoint=f"ipc://{run_root}/run/exec.sock")
    master.wait_ready()
    master.wait_for(SERVING)
    fake = FakeCentrifugo(node, f"127.0.0.1:{port}")
    yield fake, standin
    fake.close()
    master.stop()
    standin.close()
    shutil.rmtree(master.dir, ignore_errors=True)
    shutil.rmtree(run_root, ignore_errors=True)


def test_connect_knows_the_demo_tokens(demo):
    fake, _ = demo
    alice = fake.call("Connect", {"client": "c1", "data": b64('{"token": "demo-token-alice"}')},
                      TOKEN)
    result = ok(alice)["result"]
    assert (result["user"], result["channels"]) == ("alice", ["personal:alice"])
    stranger = fake.call("Connect", {"data": b64('{"token": "nope"}')}, TOKEN)
    assert ok(stranger) == {"disconnect": {"code": 4501, "reason": "unauthorized"}}


def test_subscribe_allows_public_and_own_channels_only(demo):
    fake, _ = demo
    assert "result" in ok(fake.call("Subscribe", {"user": "bob", "channel": "news"}, TOKEN))
    assert "result" in ok(fake.call("Subscribe", {"user": "bob", "channel": "personal:bob"},
                                    TOKEN))
    refused = fake.call("Subscribe", {"user": "bob", "channel": "personal:alice"}, TOKEN)
    assert ok(refused) == {"error": {"code": 403, "message": "permission denied"}}


def test_rpc_shout_publishes_through_the_api(demo):
    fake, standin = demo
    answer = fake.call("RPC", {"user": "bob", "method": "shout", "data": b64('{"text": "hi"}')},
                       TOKEN)
    assert json.loads(unb64(ok(answer)["result"]["data"])) == {"published": True}
    call = standin.recorded()
    assert call["metadata"]["authorization"] == "apikey demo-api-key"
    assert call["request"]["channel"] == "chat"
    assert json.loads(unb64(call["request"]["data"])) == {"from": "bob", "text": "HI"}
    unknown = fake.call("RPC", {"user": "bob", "method": "dance"}, TOKEN)
    assert ok(unknown)["error"]["code"] == 404
