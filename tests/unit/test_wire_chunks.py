"""The chunk codec: bodies and answers round-trip, and any malformed frame is a WireError."""

from __future__ import annotations

import struct
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor import wire
from supervisor.client import calls
from supervisor.errors import HandlerError, SupervisorError

_BODIES = st.lists(st.binary(max_size=40), min_size=1, max_size=80)


@settings(deadline=None)  # a shared, loaded machine: time is not what these check
@given(_BODIES, st.binary(max_size=30))
def test_bodies_round_trip_from_any_offset(bodies, prefix):
    frame = prefix + wire.pack_bodies(bodies)
    assert wire.chunk_count(frame, len(prefix)) == len(bodies)
    assert wire.unpack_bodies(frame, len(prefix)) == bodies


@settings(deadline=None)
@given(_BODIES, st.data())
def test_answers_round_trip(answers, data):
    statuses = bytes(data.draw(st.sampled_from([wire.S_OK, wire.S_ERR])) for _ in answers)
    assert wire.unpack_answers(wire.pack_answers(statuses, answers)) == (statuses, answers)


def test_the_largest_chunk_passes_and_one_more_body_does_not():
    assert wire.chunk_count(wire.pack_bodies([b""] * wire.MAX_CHUNK)) == wire.MAX_CHUNK
    with pytest.raises(wire.WireError, match=r"a chunk carries 1\.\.4096 bodies, not 4097"):
        wire.chunk_count(wire.pack_bodies([b""] * (wire.MAX_CHUNK + 1)))


@pytest.mark.parametrize(("frame", "message"), [
    (b"", "at least its 4-byte count"),
    (b"\x00\x00\x01", "at least its 4-byte count"),
    (struct.pack(">I", 0), "1..4096 bodies, not 0"),
    (struct.pack(">I", 2**32 - 1) + b"x" * 64, "not 4294967295"),
    (struct.pack(">II", 1000, 1), "needs 4004 bytes of lengths"),  # lengths cut short
    (struct.pack(">II", 1, 5) + b"abcd", "do not add up"),  # a body cut short
    (struct.pack(">II", 1, 3) + b"abcd", "do not add up"),  # trailing bytes
    (struct.pack(">III", 2, 2**32 - 1, 1) + b"ab", "do not add up"),
])
def test_malformed_chunks_are_wire_errors(frame, message):
    with pytest.raises(wire.WireError, match=message):
        wire.chunk_count(frame)
    with pytest.raises(wire.WireError, match=message):
        wire.unpack_bodies(frame)


@pytest.mark.parametrize("frame", [
    b"", b"\x00\x01",
    struct.pack(">I", 5000) + b"\x00" * 25000,  # more bodies than a chunk may carry
    struct.pack(">I", 3) + b"\x00\x00\x00",  # statuses, but no lengths
    struct.pack(">IBI", 1, 0, 4) + b"abc",
    struct.pack(">IBI", 1, 0, 2) + b"abc",
])
def test_malformed_answers_are_wire_errors(frame):
    with pytest.raises(wire.WireError):
        wire.unpack_answers(frame)


def test_a_malformed_chunk_answer_reaches_the_caller_as_a_typed_error():
    with pytest.raises(SupervisorError, match="malformed chunk answer"):
        calls.outcome(wire.S_CHUNK, struct.pack(">I", 7))


def test_a_chunks_answers_are_yielded_in_order_up_to_its_first_error():
    error = wire.error_body("HandlerError", "refused", type="ValueError", worker=1)
    body = wire.pack_answers(bytes([0, 0, 1, 0]), [b"a", b"b", error, b"d"])
    results = iter(calls.items(calls.outcome(wire.S_CHUNK, body)))
    assert [next(results), next(results)] == [b"a", b"b"]
    with pytest.raises(HandlerError, match="refused"):
        next(results)
    clean = wire.pack_answers(bytes(2), [b"x", b""])
    assert list(calls.items(calls.outcome(wire.S_CHUNK, clean))) == [b"x", b""]
    assert list(calls.items(calls.outcome(wire.S_OK, b"one"))) == [b"one"]


def test_map_packs_str_and_buffers_as_bytes_in_chunks_of_its_size():
    kind, requests = calls.requests(iter(["a", b"b", bytearray(b"c"), memoryview(b"d"), b"e"]), 2)
    assert kind == wire.CHUNK
    assert [wire.unpack_bodies(request) for request in requests] == \
        [[b"a", b"b"], [b"c", b"d"], [b"e"]]


def test_map_sends_chunks_half_a_window_at_a_time_and_single_bodies_one_per_answer():
    def sent_after(chunksize, answered):
        feed = calls.Feed("echo", [b"x"] * 10_000, None, None, chunksize)
        in_flight = []
        feed.refill(in_flight, lambda *request: request)
        full = len(in_flight)
        del in_flight[:answered]
        before = len(in_flight)
        feed.refill(in_flight, lambda *request: request)
        return full, len(in_flight) - before

    assert sent_after(64, 31) == (64, 0)  # 33 of 64 still in flight: wait
    assert sent_after(64, 32) == (64, 32)  # half the window answered: send 32 together
    assert sent_after(1, 1) == (256, 1)


def test_map_keeps_at_most_its_byte_budget_of_bodies_in_flight():
    """Large bodies wait in the client: one map alone never fills the master's queue memory
    (a map of 200 bodies of 1 MiB failed with QueueFull when 256 could be in flight)."""
    body = b"x" * 2**20
    feed = calls.Feed("echo", [body] * 200, None, None, 1)
    in_flight: deque = deque()
    feed.refill(in_flight, lambda *request: request)
    assert len(in_flight) == calls.MAP_BYTES // len(body)
    in_flight.popleft()
    feed.refill(in_flight, lambda *request: request)
    assert len(in_flight) == calls.MAP_BYTES // len(body)  # one answered, one more sent
    assert feed.bytes == calls.MAP_BYTES

    huge = calls.Feed("echo", [b"y" * (calls.MAP_BYTES + 1)] * 3, None, None, 1)
    in_flight.clear()
    huge.refill(in_flight, lambda *request: request)
    assert len(in_flight) == 1  # a body over the budget still goes, alone
