"""Malformed frames on the listen endpoint, and what never happens to socket data."""

import json
import re

import pytest
import zmq

from supervisor import Client, errors, wire
from tests.support import ROOT


@pytest.mark.parametrize(("frames", "reason"), [
    ([b"id"], "expected 3 or 4 frames"),
    ([b"id", b"echo", b"body", b"ctx", b"extra"], "expected 3 or 4 frames"),
    ([b"", b"echo", b"body"], "request id must be"),
    ([b"id", b"echo", b"body", b"not json"], "context frame is not a JSON object"),
    ([b"id", b"echo", b"body", b"[1, 2]"], "context frame is not a JSON object"),
])
def test_parse_request_rejects(frames, reason):
    with pytest.raises(wire.WireError, match=re.escape(reason)):
        wire.parse_request(frames)


def test_decode_error_types():
    assert isinstance(wire.decode_error(wire.error_body("QueueFull", "x")), errors.QueueFull)
    handler = wire.decode_error(wire.error_body("HandlerError", "m", type="KeyError", worker=1))
    assert (handler.type, handler.message, handler.worker_id) == ("KeyError", "m", 1)
    assert type(wire.decode_error(b"\xff garbage")) is errors.SupervisorError


def test_garbage_frames_get_errors_and_the_master_keeps_serving(start_master):
    master = start_master()
    context = zmq.Context.instance()
    raw = context.socket(zmq.DEALER)
    raw.linger = 0
    raw.connect(master.endpoint)
    try:
        raw.send_multipart([b"only-one-frame"])
        raw.send_multipart([b"r1", b"echo", b"x", b"{not json"])
        raw.send_multipart([b"r2", b"no-such-handler", b"x"])
        raw.send_multipart([b"\x00" * 100, b"echo", b"x"])
        raw.send_multipart([b"r3", b"\xff\xfe", b"x"])
        replies = {}
        while len(replies) < 4:
            assert raw.poll(5000), f"missing replies, got {replies}"
            req_id, status, body = raw.recv_multipart()
            replies[req_id] = (status, json.loads(body))
    finally:
        raw.close()
    assert b"\x00" * 100 not in replies
    assert replies[b"only-one-frame"][1]["code"] == "BadRequest"
    assert replies[b"r1"][1]["code"] == "BadRequest"
    assert "unknown handler" in replies[b"r2"][1]["message"]
    assert replies[b"r3"][1]["code"] == "BadRequest"
    master.wait_for(r"dropped a malformed request: expected 3 or 4 frames")
    with Client(master.endpoint) as client:
        assert client.exec("echo", b"alive") == b"alive"


def test_nothing_in_the_package_unpickles_or_evaluates():
    pattern = re.compile(r"\b(pickle|cPickle|marshal)\.loads?\b|recv_pyobj"
                         r"|(?<![.\w])(?<!def )(eval|exec)\(")
    offenders = [f"{path.relative_to(ROOT)}:{n}"
                 for path in (ROOT / "supervisor").rglob("*.py")
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if pattern.search(line)]
    assert offenders == []


def test_load_json_bounds_depth_and_size():
    with pytest.raises(wire.WireError, match="nested deeper"):
        wire.load_json(b"[" * 1000)
    with pytest.raises(wire.WireError, match="exceeds"):
        wire.load_json(b'"' + b"x" * 100 + b'"', limit=50)
    assert wire.load_json(b'{"a": "' + b"[" * 500 + b'"}') == {"a": "[" * 500}
    assert wire.load_json(b"[" * 32 + b"]" * 32) is not None


def test_deeply_nested_context_is_refused_and_the_master_keeps_serving(start_master):
    """One kilobyte of brackets once raised RecursionError out of the loop and hung the master."""
    master = start_master()
    raw = zmq.Context.instance().socket(zmq.DEALER)
    raw.linger = 0
    raw.connect(master.endpoint)
    try:
        raw.send_multipart([b"1", b"echo", b"x", b"[" * 1000])
        assert raw.poll(5000), "no answer to the nested context"
        req_id, status, body = raw.recv_multipart()
    finally:
        raw.close()
    assert (req_id, status, json.loads(body)["code"]) == (b"1", wire.ERR, "BadRequest")
    with Client(master.endpoint) as client:
        assert client.exec("echo", b"alive") == b"alive"
    assert master.proc.poll() is None
