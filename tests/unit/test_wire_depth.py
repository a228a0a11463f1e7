"""The JSON depth bound on frames from peers: exact, whatever the strings hold."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supervisor import wire

_TEXT = st.text(alphabet='[]{}"\\ax\n', max_size=8)
_VALUES = st.recursive(st.none() | st.integers() | _TEXT,
                       lambda inner: st.lists(inner, max_size=3) |
                       st.dictionaries(_TEXT, inner, max_size=3), max_leaves=60)


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


def _nest(value, levels: int):
    for index in range(levels):
        value = [value] if index % 2 else {'k[{\\"': value}
    return value


@given(_VALUES, st.integers(0, 40))
def test_json_is_refused_exactly_when_nested_deeper_than_the_bound(value, levels):
    value = _nest(value, levels)
    data = json.dumps(value).encode()
    if _depth(value) > wire.MAX_JSON_DEPTH:
        with pytest.raises(wire.WireError, match="nested deeper"):
            wire.load_json(data)
    else:
        assert wire.load_json(data) == value


@pytest.mark.parametrize("flood", [b"[" * 20_000, b"{" * 1_000_000, b'[{"a":' * 150_000,
                                   b"[" * 33 + b"]" * 33])
def test_deep_floods_are_refused_as_deep(flood):
    with pytest.raises(wire.WireError, match="nested deeper than 32 levels"):
        wire.load_json(flood)


def test_many_shallow_brackets_are_not_deep():
    with pytest.raises(wire.WireError, match="not JSON"):
        wire.load_json(b"[]" * 500_000)
    assert wire.load_json(b"[" + b"[]," * 300_000 + b"[]]") == [[]] * 300_001
