"""Protobuf messages to dicts and back (the helper's JSON and the API client's results)."""

from __future__ import annotations

import base64
import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor.centrifugo import codec, protocol

PROXY = protocol.load("proxy.proto").messages
API = protocol.load("api.proto").messages


def test_round_trip_through_json_shapes():
    data = {"result": {"user": "u", "expire_at": -5, "data": base64.b64encode(b"\x00\xff")
                       .decode(), "channels": ["a", "b"],
                       "subs": {"s": {"info": "aQ==", "override": {"presence": {}}}},
                       "caps": [{"allow": ["sub"], "match": "prefix"}],
                       "labels": {"k": "v"}}}
    message = codec.from_dict(PROXY["ConnectResponse"], data)
    assert message.result.data == b"\x00\xff"
    assert message.result.subs["s"].override.HasField("presence")
    assert codec.to_dict(message) == data


def test_binary_mode_keeps_bytes():
    message = codec.from_dict(API["PublishRequest"], {"channel": "c", "data": b"\x01",
                                                     "tags": {"a": "b"}}, binary=True)
    assert codec.to_dict(message, binary=True) == {"channel": "c", "data": b"\x01",
                                                   "tags": {"a": "b"}}


def test_defaults_are_left_out_and_none_is_skipped():
    message = codec.from_dict(PROXY["RPCResult"], {"data": None, "b64data": ""})
    assert codec.to_dict(message) == {}


@pytest.mark.parametrize(("cls", "data", "where"), [
    ("ConnectResponse", {"outcome": {}}, "outcome: unknown field"),
    ("ConnectResponse", {"result": {"user": 5}}, "result.user: expected a string"),
    ("ConnectResponse", {"result": {"expire_at": "5"}}, "result.expire_at: expected a number"),
    ("ConnectResponse", {"result": {"expire_at": 1 << 63}}, "out of range"),
    ("ConnectResponse", {"result": {"channels": "a"}}, "result.channels: expected a list"),
    ("ConnectResponse", {"result": {"channels": [1]}}, r"result.channels\[0\]"),
    ("ConnectResponse", {"result": {"subs": []}}, "result.subs: expected an object"),
    ("ConnectResponse", {"result": {"subs": {"s": 1}}}, "result.subs.s: expected an object"),
    ("ConnectResponse", {"result": {"data": "***"}}, "result.data: expected base64"),
    ("ConnectResponse", {"result": []}, "result: expected an object"),
    ("RefreshResponse", {"result": {"expired": 1}}, "expected a boolean"),
    ("PublishResponse", {"result": {"version": -1}}, "out of range"),
    ("ConnectResponse", [], "expected an object"),
    ("ConnectResponse", {"result": {"user": "\ud800"}}, "result.user: text that is not"),
    ("ConnectResponse", {"result": {"labels": {"\ud800": "x"}}}, "result.labels: text"),
])
def test_a_dict_that_does_not_fit_is_refused_naming_the_field(cls, data, where):
    with pytest.raises(codec.CodecError, match=where):
        codec.from_dict(PROXY[cls], data)


@settings(max_examples=100, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() |
                    st.text(st.characters(codec=None)),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
                    max_leaves=20))
def test_any_json_value_either_fits_or_is_a_codec_error(value):
    for name in ("ConnectResponse", "SubscribeResponse", "PublishResponse"):
        with contextlib.suppress(codec.CodecError):
            codec.from_dict(PROXY[name], {"result": value})
