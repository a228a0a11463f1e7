"""Handler loading, interceptor order and result encoding."""

import json

import pytest

from supervisor.payload import Payload, encode_result
from supervisor.worker.handlers import HandlerLoadError, build


def test_interceptors_wrap_in_order_star_outermost():
    table = build({"echo": "tests.handlers:echo"},
                  {"*": ["tests.handlers:bracket"], "echo": ["tests.handlers:shout"]})
    assert table["echo"](Payload(b"hi")) == b"[HI]"


def test_bad_targets_name_their_key():
    with pytest.raises(HandlerLoadError) as caught:
        build({"x": "tests.handlers:echo"}, {"*": ["tests.handlers:missing"]})
    assert caught.value.key == "interceptors.*"
    with pytest.raises(HandlerLoadError, match="not callable") as caught:
        build({"y": "tests.handlers:NOT_CALLABLE"}, {})
    assert caught.value.key == "handlers.y"


@pytest.mark.parametrize(("value", "encoded"), [
    (None, b""), (b"raw", b"raw"), ("text", b"text"), ({"a": 1}, b'{"a":1}'), ([1, 2], b"[1,2]"),
    (3, b"3"), (bytearray(b"ba"), b"ba"),
])
def test_results_become_bytes(value, encoded):
    assert encode_result(value) == encoded


def test_unserialisable_result_is_a_type_error():
    with pytest.raises(TypeError, match="not None, bytes, str or JSON-serialisable"):
        encode_result({1, 2})


def test_payload_json_and_context():
    payload = Payload(json.dumps({"tick": 3}).encode(), {"lastTick": None})
    assert payload.json()["tick"] == 3
    assert payload.context["lastTick"] is None
    assert Payload().context == {}
