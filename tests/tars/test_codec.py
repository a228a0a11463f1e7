"""The TARS codec: the reference frame, both packet versions, replies parsed by tag, garbage."""

from __future__ import annotations

import contextlib

import pytest
import tarsio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tarsio import TarsDict

from supervisor.tars import codec
from supervisor.tars.codec import ServerInfo, TarsDecodeError

INFO = ServerInfo("App", "Server", 1234, "App.Server.ObjAdapter")

# The reference frame of NOTES.md, spelled out field by field.
REFERENCE = b"".join(
    [
        bytes.fromhex("00000062"),  # length 98, counting itself
        bytes.fromhex("1001"),  # 1 iVersion = 1
        bytes.fromhex("2c"),  # 2 cPacketType = 0 (zero)
        bytes.fromhex("3c"),  # 3 iMessageType = 0
        bytes.fromhex("4001"),  # 4 iRequestId = 1
        bytes.fromhex("5617") + b"tars.tarsnode.ServerObj",
        bytes.fromhex("6609") + b"keepAlive",
        bytes.fromhex("7d000029"),  # 7 sBuffer: simple list of 41 bytes
        bytes.fromhex("1a") + bytes.fromhex("0603") + b"App" + bytes.fromhex("1606") + b"Server",
        bytes.fromhex("2104d2") + bytes.fromhex("3615") + b"App.Server.ObjAdapter",
        bytes.fromhex("0b"),
        bytes.fromhex("810bb8"),  # 8 iTimeout = 3000
        bytes.fromhex("980c"),  # 9 context = {}
        bytes.fromhex("a80c"),  # 10 status = {}
    ]
)


def body(frame: bytes) -> bytes:
    assert codec.frame_length(frame[:4]) == len(frame)
    return frame[4:]


def test_reference_frame_byte_for_byte() -> None:
    frame = codec.keep_alive(INFO, request_id=1, timeout_ms=3000)
    assert len(REFERENCE) == 98
    assert frame == REFERENCE


@pytest.mark.parametrize("version", [1, 3])
@pytest.mark.parametrize("oneway", [False, True])
def test_keep_alive_round_trip(version: int, oneway: bool) -> None:
    frame = codec.keep_alive(INFO, request_id=77, version=version, oneway=oneway, timeout_ms=500)
    request = codec.decode_request(body(frame))
    assert (request.version, request.request_id, request.timeout_ms) == (version, 77, 500)
    assert request.packet_type == (codec.ONEWAY if oneway else codec.NORMAL)
    assert (request.servant, request.func) == (codec.NODE_SERVANT, "keepAlive")
    call = codec.decode_call(request)
    assert call.func == "keepAlive"
    assert call.info == INFO


def test_v3_arguments_are_a_tup_map_keyed_by_parameter_name() -> None:
    request = codec.decode_request(body(codec.keep_alive(INFO, request_id=5, version=3)))
    values = codec.decode_raw(request.buffer)[0]
    assert set(values) == {"serverInfo"}
    struct = codec.decode_raw(values["serverInfo"])[0]
    assert struct == {0: "App", 1: "Server", 2: 1234, 3: "App.Server.ObjAdapter"}


@pytest.mark.parametrize("version", [1, 3])
def test_report_version_round_trip(version: int) -> None:
    frame = codec.report_version(
        "App", "Server", "zmq-supervisor 0.1", request_id=9, version=version
    )
    call = codec.decode_call(codec.decode_request(body(frame)))
    assert call.func == "reportVersion"
    assert (call.app, call.server_name, call.app_version) == ("App", "Server", "zmq-supervisor 0.1")


def test_v1_report_version_arguments_sit_at_tags_1_2_3() -> None:
    request = codec.decode_request(body(codec.report_version("A", "S", "1.0", request_id=1)))
    assert codec.decode_raw(request.buffer) == {1: "A", 2: "S", 3: "1.0"}


def test_keep_activing_and_empty_adapter() -> None:
    info = ServerInfo("App", "Server", 99)
    frame = codec.keep_alive(info, request_id=3, func="keepActiving")
    call = codec.decode_call(codec.decode_request(body(frame)))
    assert call.func == "keepActiving"
    assert call.info == info


@pytest.mark.parametrize("version", [1, 3])
@pytest.mark.parametrize("result", [0, -1])
def test_reply_round_trip(version: int, result: int) -> None:
    request = codec.decode_request(body(codec.keep_alive(INFO, request_id=41, version=version)))
    reply = codec.decode_reply(body(codec.encode_reply(request, result)))
    assert (reply.version, reply.request_id, reply.ret, reply.result) == (version, 41, 0, result)


def test_response_packet_without_optional_fields() -> None:
    # iVersion, iRequestId, iRet and sBuffer only: no status, sResultDesc or context.
    data = bytes.fromhex("100130075c6d0000010c")
    reply = codec.decode_reply(data)
    assert (reply.version, reply.request_id, reply.ret, reply.result, reply.desc) == (
        1,
        7,
        0,
        0,
        "",
    )


def test_response_packet_with_error_and_no_buffer() -> None:
    data = bytes.fromhex("1001300850fd") + bytes.fromhex("8604") + b"oops"
    reply = codec.decode_reply(data)
    assert (reply.request_id, reply.ret, reply.result, reply.desc) == (8, -3, None, "oops")


def _tup_reply(values: dict[str, int], status: dict[str, str]) -> bytes:
    """A v3 reply built with tarsio's schema-less encoder rather than the codec under test."""
    encoded = {name: tarsio.encode(TarsDict({0: value})) for name, value in values.items()}
    buffer = tarsio.encode(TarsDict({0: encoded}))
    reply = codec.Request(3, 0, 12, codec.NODE_SERVANT, "keepAlive", buffer, status=status)
    return body(codec.encode_request(reply))


def test_v3_reply_reads_tars_ret_when_the_empty_key_is_missing() -> None:
    reply = codec.decode_reply(_tup_reply({"tars_ret": -1}, {}))
    assert (reply.version, reply.request_id, reply.ret, reply.result) == (3, 12, 0, -1)


def test_v3_reply_carries_the_framework_code_in_status() -> None:
    status = {"STATUS_RESULT_CODE": "-4", "STATUS_RESULT_DESC": "no such func"}
    reply = codec.decode_reply(_tup_reply({}, status))
    assert (reply.ret, reply.result, reply.desc) == (-4, None, "no such func")


def test_v3_reply_with_non_numeric_code_is_a_decode_error() -> None:
    with pytest.raises(TarsDecodeError):
        codec.decode_reply(_tup_reply({"": 0}, {"STATUS_RESULT_CODE": "x"}))


@pytest.mark.parametrize("header", [b"\x00\x00\x00\x04", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff"])
def test_implausible_frame_lengths(header: bytes) -> None:
    with pytest.raises(TarsDecodeError):
        codec.frame_length(header)


def test_short_header() -> None:
    with pytest.raises(TarsDecodeError):
        codec.frame_length(b"\x00\x00")


def test_unsupported_versions() -> None:
    with pytest.raises(ValueError, match=r"1 \(TARS\) or 3"):
        codec.keep_alive(INFO, request_id=1, version=2)
    request = codec.decode_request(body(codec.keep_alive(INFO, request_id=1)))
    for version in (2, 7):
        with pytest.raises(TarsDecodeError):
            codec.decode_call(codec.Request(**{**request.__dict__, "version": version}))


def test_other_functions_decode_without_arguments() -> None:
    request = codec.Request(1, 0, 1, codec.NODE_SERVANT, "getLatestKeepAliveTime", b"")
    call = codec.decode_call(request)
    assert call.func == "getLatestKeepAliveTime"
    assert call.info is None


VALID_BODIES = [
    body(codec.keep_alive(INFO, request_id=1)),
    body(codec.keep_alive(INFO, request_id=2, version=3, oneway=True)),
    body(codec.report_version("App", "Server", "1.0", request_id=3, version=3)),
    body(codec.encode_reply(codec.decode_request(body(codec.keep_alive(INFO, request_id=4))), 0)),
    body(
        codec.encode_reply(
            codec.decode_request(body(codec.keep_alive(INFO, request_id=5, version=3))), -1
        )
    ),
]


def decode_everything(data: bytes) -> None:
    """Feed `data` to every decoder; each may succeed or raise TarsDecodeError, nothing else."""
    for decoder in (codec.decode_reply, codec.decode_raw):
        with contextlib.suppress(TarsDecodeError):
            decoder(data)
    with contextlib.suppress(TarsDecodeError):
        codec.decode_call(codec.decode_request(data))
    if len(data) >= 4:
        with contextlib.suppress(TarsDecodeError):
            codec.frame_length(data[:4])


def test_every_truncation_of_valid_packets() -> None:
    for valid in VALID_BODIES:
        for cut in range(len(valid)):
            decode_everything(valid[:cut])


FUZZ = settings(
    max_examples=1500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_decode_errors(data: bytes) -> None:
    decode_everything(data)


@FUZZ
@given(
    st.sampled_from(VALID_BODIES),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=6),
)
def test_corrupted_packets_raise_only_decode_errors(
    valid: bytes, edits: list[tuple[int, int]]
) -> None:
    data = bytearray(valid)
    for position, value in edits:
        data[position % len(data)] = value
    decode_everything(bytes(data))


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(TarsDecodeError, ValueError)
    with pytest.raises(TarsDecodeError, match="malformed"):
        codec.decode_request(b"\xff\xff")
