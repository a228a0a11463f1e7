"""The typed handler API and the worker-side adapter, as pure Python (no pool, no gRPC)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest

from supervisor.centrifugo import (
    ChannelsCapability,
    ConnectRequest,
    ConnectResult,
    Disconnect,
    Error,
    FilterNode,
    PublishResult,
    RefreshResult,
    RPCRequest,
    RPCResult,
    SubRefreshResult,
    SubscribeOptionOverride,
    SubscribeOptions,
    SubscribeResult,
)
from supervisor.centrifugo.events import EVENTS, outcome_to_wire
from supervisor.centrifugo.events import rpc as rpc_adapter
from supervisor.payload import Payload


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- Error and Disconnect ---

@pytest.mark.parametrize("code", [400, 1000, 1999])
def test_error_accepts_application_codes(code):
    assert Error(code, "m", temporary=True).to_wire() == {"code": code, "message": "m",
                                                          "temporary": True}


@pytest.mark.parametrize("code", [0, 100, 399, 2000, 4500, True, "400", 400.0])
def test_error_rejects_codes_outside_400_1999(code):
    with pytest.raises(ValueError, match=r"400\.\.1999"):
        Error(code, "m")


@pytest.mark.parametrize("code", [4000, 4499, 4500, 4999])
def test_disconnect_accepts_4000_4999(code):
    assert Disconnect(code, "r").to_wire() == {"code": code, "reason": "r"}


@pytest.mark.parametrize("code", [3999, 5000, 1000, False])
def test_disconnect_rejects_other_codes(code):
    with pytest.raises(ValueError, match=r"4000\.\.4999"):
        Disconnect(code)


def test_disconnect_reason_is_at_most_32_bytes():
    Disconnect(4500, "x" * 32)
    with pytest.raises(ValueError, match="32 bytes"):
        Disconnect(4500, "x" * 33)
    with pytest.raises(ValueError, match="32 bytes"):
        Disconnect(4500, "é" * 17)  # 34 bytes in UTF-8


# --- results ---

def test_results_hold_payloads_as_bytes_and_send_only_what_is_set():
    result = ConnectResult(user="7", info={"a": 1}, data="text", meta=b"\xff")
    assert (result.info, result.data, result.meta) == (b'{"a":1}', b"text", b"\xff")
    assert result.to_wire() == {"user": "7", "info": b64(b'{"a":1}'), "data": b64(b"text"),
                                "meta": b64(b"\xff")}


def test_nested_results_go_to_the_proto_shape():
    result = ConnectResult(
        subs={"s": SubscribeOptions(expire_at=5, override=SubscribeOptionOverride(
            presence=False), server_tags_filter=FilterNode(op="and", nodes=[
                FilterNode(key="k", cmp="eq", val="v")]))},
        caps=[ChannelsCapability(channels=["a"], allow=["sub"])])
    assert result.to_wire() == {
        "subs": {"s": {"expire_at": 5, "override": {"presence": {"value": False}},
                       "server_tags_filter": {"op": "and", "nodes": [
                           {"key": "k", "cmp": "eq", "val": "v"}]}}},
        "caps": [{"channels": ["a"], "allow": ["sub"]}]}


@pytest.mark.parametrize("make", [
    lambda: ConnectResult(user=7),
    lambda: ConnectResult(expire_at="soon"),
    lambda: ConnectResult(expire_at=1 << 63),
    lambda: ConnectResult(channels="news"),
    lambda: ConnectResult(channels=[1]),
    lambda: ConnectResult(subs={"s": {"expire_at": 1}}),
    lambda: ConnectResult(caps=[{"channels": []}]),
    lambda: ConnectResult(labels={"a": 1}),
    lambda: ConnectResult(data=object()),
    lambda: RefreshResult(expired="yes"),
    lambda: SubscribeResult(override={"presence": True}),
    lambda: SubscribeOptionOverride(presence=1),
    lambda: PublishResult(version=-1),
    lambda: PublishResult(tags={"a": None}),
    lambda: FilterNode(nodes=["x"]),
])
def test_results_reject_wrong_values_where_they_are_made(make):
    with pytest.raises(TypeError):
        make()


# --- requests ---

def test_requests_decode_data_and_keep_headers():
    request = ConnectRequest.from_wire({"client": "c", "data": b64(b'{"token": "t"}'),
                                        "channels": ["a"]}, {"authorization": "Bearer x"})
    assert request.data == b'{"token": "t"}'
    assert request.json() == {"token": "t"}
    assert request.headers == {"authorization": "Bearer x"}
    assert request.channels == ["a"]


def test_a_request_with_an_unknown_field_is_refused():
    with pytest.raises(ValueError, match="unknown field"):
        RPCRequest.from_wire({"method": "m", "surprise": 1}, {})


# --- the adapter's rules ---

def test_every_event_accepts_its_own_result():
    for event in EVENTS.values():
        assert outcome_to_wire(event, event.result()) == {"result": {}}


@pytest.mark.parametrize("event", ["connect", "subscribe", "publish", "rpc"])
def test_refusals_become_error_or_disconnect(event):
    assert outcome_to_wire(EVENTS[event], Error(1000, "no")) == {
        "error": {"code": 1000, "message": "no", "temporary": False}}
    assert outcome_to_wire(EVENTS[event], Disconnect(4000, "bye")) == {
        "disconnect": {"code": 4000, "reason": "bye"}}


@pytest.mark.parametrize("event", ["refresh", "sub_refresh"])
@pytest.mark.parametrize("refusal", [Error(400, "x"), Disconnect(4500, "x")])
def test_refresh_refusals_are_handler_errors(event, refusal):
    with pytest.raises(TypeError, match="ignores"):
        outcome_to_wire(EVENTS[event], refusal)


@pytest.mark.parametrize(("event", "meaning"), [
    ("connect", "no credentials"), ("refresh", "expired"), ("sub_refresh", "expired"),
    ("subscribe", "allowed")])
def test_none_is_a_handler_error_where_centrifugo_would_read_a_decision(event, meaning):
    with pytest.raises(TypeError, match=meaning):
        outcome_to_wire(EVENTS[event], None)


@pytest.mark.parametrize("event", ["publish", "rpc"])
def test_none_is_an_empty_answer_for_publish_and_rpc(event):
    assert outcome_to_wire(EVENTS[event], None) == {}


@pytest.mark.parametrize("wrong", [42, "ok", {"user": "x"}, RPCResult(), SubRefreshResult()])
def test_another_type_is_a_handler_error_naming_it(wrong):
    with pytest.raises(TypeError, match=f"returned {type(wrong).__name__}"):
        outcome_to_wire(EVENTS["connect"], wrong)


def test_the_adapter_hands_the_typed_request_over_and_catches_raised_refusals():
    payload = Payload(json.dumps({"method": "m", "data": b64(b"[1]")}).encode(),
                      {"type": "rpc", "metadata": {"x": "y"}})
    seen = []

    def handler(request):
        seen.append(request)
        raise Error(1001, "nope")

    assert rpc_adapter(payload, handler) == {"error": {"code": 1001, "message": "nope",
                                                       "temporary": False}}
    assert seen[0].method == "m" and seen[0].json() == [1] and seen[0].headers == {"x": "y"}


def test_the_typed_api_imports_neither_grpc_nor_protobuf():
    code = ("import sys, supervisor.centrifugo, supervisor.centrifugo.events, "
            "supervisor.centrifugo.supervise; "
            "print(sorted(m for m in sys.modules if m.startswith(('grpc', 'google'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
