"""The frames that cross ZeroMQ sockets: raw bytes and JSON, never pickles.

Wire version 2 (what `Client` and `AsyncClient` speak): one frame per request and
per answer, so a message costs ZeroMQ as little as it can.

    client -> master   [request]
        request = HEAD(version 2, kind, handler length, context length, timeout ms,
                       request id) + handler + context JSON object (optional) + body
        kind CALL: one handler call with the body; CHUNK: the body is pack_bodies(bodies),
        each body runs as its own handler call on one worker; CANCEL: no body, the request
        id names an earlier call, dropped if it still waits in the master's queue.
        A timeout (ms, 0 = none) tells the master when the caller stops waiting: a
        request still queued then is dropped, not run.
    master -> client   [answer, answer, ...]   (one or more per message)
        answer = ANSWER(version 2, status, request id) + body; status OK (the result),
        ERR (error JSON: {"code", "message", ...}) or CHUNK (pack_answers)

    chunk (pack_bodies)   = u32 count (1..MAX_CHUNK), count x u32 length, the bodies
    answers (pack_answers) = u32 count, count x u8 status (S_OK or S_ERR: the error
        JSON), count x u32 length, the answers
    (integers big-endian). The lengths must add up to the frame's size exactly:
    anything else is a WireError (BadRequest for a request; a typed error for the
    caller of a malformed answer), never a partial read.

Version 1, still served:

    client -> master   [req_id, handler, body] or [req_id, handler, body, context-json]
    master -> client   [req_id, OK, body] or [req_id, ERR, error-json]

Between the master and its own processes:

    master -> worker   [job, job, ...] or [STOP]
        job = SEQ(number in this worker's stream) + a version 2 request
    worker -> master   [done] | [READY, info-json] | [FATAL, info-json]
        done = DONE("d", status, number, handler run time in microseconds) + answer body
    worker -> logs     [worker-id, pid, kind, data]   (kind: out, err or log)

Sizes are bounded: every frame a peer sends by `server.limits.message_size` (larger
ones are refused; beyond twice that ZeroMQ drops the connection unread), and the
fields below by the MAX_* constants; error messages never echo more than a few
hundred bytes of input.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import struct
from collections.abc import Iterator
from typing import Any

import zmq

from supervisor import errors

VERSION = 2
OK = b"ok"
ERR = b"err"
READY = b"ready"
FATAL = b"fatal"
STOP = b"stop"

# Request kinds (v2 head) and answer statuses (v2 answer, worker done).
CALL, CHUNK, CANCEL = 1, 2, 3
S_OK, S_ERR, S_CHUNK = 0, 1, 2

HEAD = struct.Struct(">BBBxIIQ")
ANSWER = struct.Struct(">BBQ")
SEQ = struct.Struct(">Q")
DONE = struct.Struct(">cBQI")
_COUNT = struct.Struct(">I")

MAX_REQUEST_ID = 64
MAX_HANDLER = 128
MAX_CONTEXT = 64 * 1024
MAX_CHUNK = 4096
MAX_JSON_BYTES = 1 << 20
MAX_JSON_DEPTH = 32
MAX_SHOWN = 200

# pyzmq flags as plain ints: pyzmq's `send_multipart`/`recv_multipart` build enum
# objects on every frame; `Socket.send(data, int)` and `Socket.recv(int, copy=False)`
# (with `Frame.more`) go straight to the compiled code, as does `getsockopt(EVENTS)`
# (`get` wraps the events in an enum, twice the cost) (pinned in tests/integration/
# test_zmq_pins.py).
NOBLOCK = int(zmq.NOBLOCK)
SNDMORE = int(zmq.SNDMORE)
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)


class WireError(ValueError):
    """Frames that do not follow the protocol; the message says what was wrong."""


def shown(data: bytes) -> str:
    """Peer input as it may appear in a log line or an error reply: decoded and cut short."""
    text = data[:MAX_SHOWN].decode("utf-8", "replace")
    return text + f"... ({len(data)} bytes)" if len(data) > MAX_SHOWN else text


# --- socket I/O without pyzmq's per-frame enum cost ---

def send(sock: zmq.Socket, frames: list[bytes], flags: int = 0) -> None:
    """Send one multipart message (`flags`: 0 or NOBLOCK)."""
    last = len(frames) - 1
    more = SNDMORE | flags
    for index, frame in enumerate(frames):
        sock.send(frame, flags if index == last else more)


def more(sock: zmq.Socket) -> bool:
    """Is a message waiting? (A failed non-blocking recv costs pyzmq an exception.)"""
    return bool(sock.getsockopt(_EVENTS) & _POLLIN)


def recv(sock: zmq.Socket, flags: int = 0, most: int = 64) -> list[bytes]:
    """Receive one multipart message; raise WireError (after reading it all) past `most` frames."""
    receive = sock.recv
    frame = receive(flags, copy=False)
    frames = [frame.bytes]
    extra = 0
    while frame.more:
        frame = receive(flags, copy=False)
        if len(frames) < most:
            frames.append(frame.bytes)
        else:
            extra += 1
    if extra:
        raise WireError(f"a message of more than {most} frames ({most + extra})")
    return frames


# --- version 2 ---

def request(kind: int, req_id: int, handler: bytes, body: bytes = b"", timeout_ms: int = 0,
            context: bytes = b"") -> bytes:
    """One v2 request frame."""
    return HEAD.pack(VERSION, kind, len(handler), len(context), timeout_ms, req_id) + \
        handler + context + body


def parse_request_head(frame: bytes) -> tuple[int, int, int, bytes, bytes, int]:
    """Check a v2 request; return (kind, request id, timeout ms, handler, context, where the
    body starts)."""
    if len(frame) < HEAD.size:
        raise WireError(f"request of {len(frame)} bytes, expected at least {HEAD.size}")
    version, kind, length, context_length, timeout_ms, req_id = HEAD.unpack_from(frame)
    if version != VERSION:
        raise WireError(f"unsupported wire version {version} (this master speaks 1 and 2)")
    if kind not in (CALL, CHUNK, CANCEL):
        raise WireError(f"unknown request kind {kind}")
    end = HEAD.size + length
    if not 0 < length <= MAX_HANDLER or end > len(frame):
        raise WireError(f"handler name must be 1..{MAX_HANDLER} bytes within the request")
    if context_length > MAX_CONTEXT or end + context_length > len(frame):
        raise WireError(f"context must be at most {MAX_CONTEXT} bytes within the request")
    context = frame[end:end + context_length]
    if context and not _is_json_object(context):
        raise WireError("context is not a JSON object")
    return kind, req_id, timeout_ms, frame[HEAD.size:end], context, end + context_length


def request_id_of(frame: bytes) -> int | None:
    """The request id of a v2 request, if it has one, to address an error reply to."""
    if len(frame) >= HEAD.size and frame[0] == VERSION:
        return HEAD.unpack_from(frame)[5]
    return None


def answer(status: int, req_id: int, body: bytes = b"") -> bytes:
    return ANSWER.pack(VERSION, status, req_id) + body


def all_bytes(items: list[Any]) -> bool:
    """Whether every item of a (non-empty) chunk is exactly `bytes`: nothing to convert,
    asked once per chunk instead of once per body."""
    return set(map(type, items)) == _ONLY_BYTES


_ONLY_BYTES = {bytes}


def pack_bodies(bodies: list[bytes]) -> bytes:
    """A chunk: count, each body's length, then the bodies (one struct call, one join)."""
    return struct.pack(f">I{len(bodies)}I", len(bodies), *map(len, bodies)) + b"".join(bodies)


def chunk_count(data: bytes, offset: int = 0) -> int:
    """Check a packed chunk (from `offset`) without copying it; return its number of bodies."""
    return len(_chunk_lengths(data, offset))


def unpack_bodies(data: bytes, offset: int = 0) -> list[bytes]:
    lengths = _chunk_lengths(data, offset)
    return _cut(data, offset + 4 + 4 * len(lengths), lengths)


def _chunk_lengths(data: bytes, offset: int) -> tuple[int, ...]:
    """The body lengths of a packed chunk, checked against its count bound and its size."""
    if len(data) < offset + _COUNT.size:
        raise WireError("a chunk needs at least its 4-byte count")
    count = _COUNT.unpack_from(data, offset)[0]
    if not 0 < count <= MAX_CHUNK:
        raise WireError(f"a chunk carries 1..{MAX_CHUNK} bodies, not {count}")
    size = len(data) - offset - 4 - 4 * count
    if size < 0:
        raise WireError(f"a chunk of {count} bodies needs {4 + 4 * count} bytes of lengths")
    lengths = struct.unpack_from(f">{count}I", data, offset + 4)
    if sum(lengths) != size:
        raise WireError("chunk body lengths do not add up to its size")
    return lengths


def _cut(data: bytes, offset: int, lengths: tuple[int, ...]) -> list[bytes]:
    """The pieces of `data` from `offset` on, of the given (checked) lengths."""
    pieces = []
    append = pieces.append
    for length in lengths:
        end = offset + length
        append(data[offset:end])
        offset = end
    return pieces


def pack_answers(statuses: bytes, answers: list[bytes]) -> bytes:
    """A chunk's answers: count, each status byte, each length, then the bodies."""
    count = len(answers)
    return _COUNT.pack(count) + bytes(statuses) + \
        struct.pack(f">{count}I", *map(len, answers)) + b"".join(answers)


def unpack_answers(data: bytes) -> tuple[bytes, list[bytes]]:
    """(status of each, body of each) from a chunk's answers; WireError if they do not add up."""
    if len(data) < _COUNT.size:
        raise WireError("a chunk's answers need at least their 4-byte count")
    count = _COUNT.unpack_from(data)[0]
    start = 4 + 5 * count
    if count > MAX_CHUNK or start > len(data):
        raise WireError(f"a chunk's answers claim {count} bodies in {len(data)} bytes")
    lengths = struct.unpack_from(f">{count}I", data, 4 + count)
    if start + sum(lengths) != len(data):
        raise WireError("chunk answer lengths do not add up to its size")
    return bytes(data[4:4 + count]), _cut(data, start, lengths)


def pack_outcomes(outcomes: list[tuple[int, bytes]]) -> bytes:
    return pack_answers(bytes(status for status, _ in outcomes), [a for _, a in outcomes])


def unpack_outcomes(data: bytes) -> list[tuple[int, bytes]]:
    statuses, answers = unpack_answers(data)
    return list(zip(statuses, answers, strict=True))


def job(seq: int, request_frame: bytes) -> bytes:
    return SEQ.pack(seq) + request_frame


def parse_job(job: bytes) -> tuple[int, int, bytes, bytes, int]:
    """(number, kind, handler, context, where the body starts) of a job the master checked."""
    _, kind, length, context_length, _, _ = HEAD.unpack_from(job, SEQ.size)
    start = SEQ.size + HEAD.size
    end = start + length
    return (SEQ.unpack_from(job)[0], kind, job[start:end], job[end:end + context_length],
            end + context_length)


def done(status: int, seq: int, seconds: float) -> bytes:
    """A worker's answer head: status, number, and how long the handler ran (microseconds)."""
    return DONE.pack(b"d", status, seq, min(int(seconds * 1e6), 2**32 - 1))


# --- version 1 ---

def parse_request(frames: list[bytes]) -> tuple[bytes, bytes, bytes, bytes]:
    """Check a v1 request's frames; return (req_id, handler, body, context)."""
    if not 3 <= len(frames) <= 4:
        raise WireError(f"expected 3 or 4 frames (request id, handler, body[, context]), "
                        f"or 1 (wire version 2), got {len(frames)}")
    req_id, handler, body = frames[0], frames[1], frames[2]
    if not 0 < len(req_id) <= MAX_REQUEST_ID:
        raise WireError(f"request id must be 1..{MAX_REQUEST_ID} bytes")
    if not 0 < len(handler) <= MAX_HANDLER:
        raise WireError(f"handler name must be 1..{MAX_HANDLER} bytes")
    context = frames[3] if len(frames) == 4 else b""
    if context and (len(context) > MAX_CONTEXT or not _is_json_object(context)):
        raise WireError("context frame is not a JSON object")
    return req_id, handler, body, context


# --- JSON from peers ---

def _is_json_object(data: bytes) -> bool:
    try:
        return isinstance(load_json(data), dict)
    except WireError:
        return False


def load_json(data: bytes, limit: int = MAX_JSON_BYTES, depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON from a peer, bounded in size and nesting so no input can exhaust the parser.

    Python's decoder recurses once per nesting level: a kilobyte of brackets
    would otherwise raise RecursionError, which is not a ValueError.
    """
    if len(data) > limit:
        raise WireError(f"JSON of {len(data)} bytes exceeds {limit}")
    if data.count(b"[") + data.count(b"{") > depth and _too_deep(data, depth):
        raise WireError(f"JSON nested deeper than {depth} levels")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise WireError(f"not JSON: {str(exc)[:120]}") from None


_STRINGS = re.compile(rb'"[^"]*"')
_ONE_KIND = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


def _too_deep(data: bytes, depth: int) -> bool:
    """Nested deeper than `depth` outside strings? (only called when brackets are many)

    Every step runs at C speed, as a flood of such frames must not stall the loop: the
    escapes and then the strings go, only brackets stay, and each pass takes out the
    innermost pairs. Unbalanced input (json.loads refuses it) counts its open brackets.
    """
    plain = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = _STRINGS.sub(b"", plain).translate(_ONE_KIND, _NOT_BRACKETS)
    for _ in range(depth):
        inner = brackets.replace(b"[]", b"")
        if inner == brackets:
            return brackets.count(b"[") > depth
        brackets = inner
    return b"[" in brackets


# --- errors ---

MAX_ERROR_TEXT = 4096
MAX_TRACEBACK = 16384


def error_body(code: str, message: str, **extra: Any) -> bytes:
    """An error reply; its message and string fields are cut to a bounded length."""
    extra = {key: value[:MAX_TRACEBACK] if isinstance(value, str) else value
             for key, value in extra.items()}
    return json.dumps({"code": code, "message": message[:MAX_ERROR_TEXT], **extra}).encode()


def decode_error(body: bytes) -> errors.SupervisorError:
    """The typed exception an error reply stands for (unknown codes stay generic)."""
    try:
        info = load_json(body)
        code, message = str(info["code"]), str(info.get("message", ""))
    except (WireError, KeyError, TypeError):
        return errors.SupervisorError(f"malformed error reply: {body[:200]!r}")
    if code == errors.HandlerError.code:
        return errors.HandlerError(str(info.get("type", "Exception")), message,
                                   info.get("worker"))
    return errors.BY_CODE.get(code, errors.SupervisorError)(message)


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Files created meanwhile (socket files above all) are 0600 whatever the umask was."""
    old = os.umask(0o177)
    try:
        yield
    finally:
        os.umask(old)


def bind(sock: Any, endpoint: str) -> None:
    """Bind a ZeroMQ socket; an ipc socket file is made 0600 as it is created, not after.

    ZeroMQ creates the file in the calling thread during bind, so the umask holds for it.
    """
    with private_umask():
        sock.bind(endpoint)
