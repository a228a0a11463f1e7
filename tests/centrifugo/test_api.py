"""The publish API client against a stand-in CentrifugoApi (@grpc/grpc-js, reference api.proto)."""

from __future__ import annotations

import base64
import json
import socket
import time

import pytest

from supervisor.centrifugo import ApiError, ApiUnauthorized, ApiUnavailable, api
from tests.centrifugo.conftest import CREDENTIALS, ProxyMaster
from tests.centrifugo.harness import FakeCentrifugo, free_port
from tests.centrifugo.test_proxy import b64, ok, unb64


def test_publish_with_tags_is_recorded_as_sent(api_standin):
    client = api(api_standin.address, "api-key-1", 2.0)
    reply = client.publish("news", {"text": "hi"}, tags={"kind": "greeting"}, skip_history=True)
    assert reply == {"offset": 1, "epoch": "stand-in"}
    call = api_standin.recorded()
    assert call["method"] == "Publish"
    assert call["metadata"]["authorization"] == "apikey api-key-1"
    request = call["request"]
    assert request["channel"] == "news"
    assert json.loads(base64.b64decode(request["data"])) == {"text": "hi"}
    assert request["tags"] == {"kind": "greeting"}
    assert request["skip_history"] is True


def test_a_wrong_key_raises_api_unauthorized(api_standin):
    with pytest.raises(ApiUnauthorized):
        api(api_standin.address, "wrong-key", 2.0).publish("news", b"x")


def test_an_error_in_the_body_raises_api_error(api_standin):
    with pytest.raises(ApiError) as raised:
        api(api_standin.address, "api-key-1", 2.0).publish("missing:channel", b"x")
    assert (raised.value.code, raised.value.message) == (102, "unknown channel")
    assert type(raised.value) is ApiError


def test_the_other_methods_decode_their_results(api_standin):
    client = api(api_standin.address, "api-key-1", 2.0)
    assert client.presence_stats("news") == {"num_clients": 3, "num_users": 2}
    presence = client.presence("news")["presence"]["c1"]
    assert (presence["user"], presence["conn_info"]) == ("42", b"{}")
    assert client.history("news", limit=1)["publications"][0]["data"] == b'{"n":1}'
    assert client.channels()["channels"] == {"news": {"num_clients": 5}}
    assert client.info()["nodes"][0]["version"] == "6.9.1"
    assert client.broadcast(["a", "missing:b"], b"x")["responses"][1]["error"]["code"] == 102
    assert client.subscribe("42", "news") == {}
    assert client.unsubscribe("42", "news") == {}
    assert client.disconnect("42", code=4501, reason="bye") == {}
    replies = client.batch([{"publish": {"channel": "a", "data": b"1"}},
                            {"publish": {"channel": "missing:b", "data": b"2"}}])
    assert replies[0]["publish"]["epoch"] == "stand-in"
    assert replies[1]["error"]["code"] == 102
    methods = [api_standin.recorded()["method"] for _ in range(10)]
    assert methods == ["PresenceStats", "Presence", "History", "Channels", "Info", "Broadcast",
                       "Subscribe", "Unsubscribe", "Disconnect", "Batch"]


def test_a_closed_port_raises_api_unavailable_at_once():
    started = time.monotonic()
    with pytest.raises(ApiUnavailable):
        api(f"127.0.0.1:{free_port()}", "k", 1.0).publish("news", b"x")
    assert time.monotonic() - started < 1.0


def test_a_silent_server_raises_api_unavailable_within_api_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        started = time.monotonic()
        with pytest.raises(ApiUnavailable):
            api(f"127.0.0.1:{silent.getsockname()[1]}", "k", 0.5).publish("news", b"x")
        assert 0.4 < time.monotonic() - started < 0.5 + 0.3


def test_a_worker_publishes_with_the_section_api_settings(node, api_standin):
    master = ProxyMaster(api_address=api_standin.address, api_key="api-key-1",
                         api_timeout="2s")
    fake = FakeCentrifugo(node, master.target)
    try:
        answer = fake.call("RPC", {"method": "publish", "data": b64('{"channel": "room"}')},
                           CREDENTIALS)
        assert json.loads(unb64(ok(answer)["result"]["data"])) == {"offset": 1}
        call = api_standin.recorded()
        assert (call["method"], call["request"]["channel"]) == ("Publish", "room")
        assert call["request"]["tags"] == {"k": "v"}
        assert call["metadata"]["authorization"] == "apikey api-key-1"
    finally:
        fake.close()
        master.close()
