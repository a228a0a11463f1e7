"""Host names and addresses as a Tars conf or an endpoint gives them."""

from __future__ import annotations

import pytest

from supervisor.config import values


@pytest.mark.parametrize("text", ["*", "127.0.0.1", "::1", "node-1.example.com", "localhost",
                                  "example.com."])
def test_hosts(text):
    assert values.host(text) == text


@pytest.mark.parametrize("text", ["127.0.0.1;evil", "a b", "-leading", "under_score",
                                  "x" * 64 + ".com", "", "tcp://x"])
def test_not_hosts(text):
    with pytest.raises(ValueError):
        values.host(text)


def test_a_bounded_integer_says_which_bound():
    convert = values.integer(0, 1024)
    assert convert(1024) == 1024
    with pytest.raises(ValueError, match="expected an integer <= 1024, got 1025"):
        convert(1025)
    with pytest.raises(ValueError, match="expected an integer >= 0, got -1"):
        convert(-1)
