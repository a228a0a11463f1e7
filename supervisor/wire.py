"""The frames that cross ZeroMQ sockets: raw bytes and JSON, never pickles.

client -> master   [req_id, handler, body] or [req_id, handler, body, context-json]
master -> client   [req_id, OK, body] or [req_id, ERR, error-json]
master -> worker   [handler, body, context-json-or-empty] or [STOP]
worker -> master   [OK, body] | [ERR, error-json] | [READY, info-json] | [FATAL, info-json]
worker -> logs     [worker-id, pid, kind, data]   (kind: out, err or log)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from typing import Any

from supervisor import errors

OK = b"ok"
ERR = b"err"
READY = b"ready"
FATAL = b"fatal"
STOP = b"stop"
MAX_REQUEST_ID = 64
MAX_JSON_BYTES = 1 << 20
MAX_JSON_DEPTH = 32


class WireError(ValueError):
    """Frames that do not follow the protocol; the message says what was wrong."""


def parse_request(frames: list[bytes]) -> tuple[bytes, bytes, bytes, bytes]:
    """Check a client's request frames; return (req_id, handler, body, context)."""
    if not 3 <= len(frames) <= 4:
        raise WireError(f"expected 3 or 4 frames (request id, handler, body[, context]), "
                        f"got {len(frames)}")
    req_id, handler, body = frames[0], frames[1], frames[2]
    if not 0 < len(req_id) <= MAX_REQUEST_ID:
        raise WireError(f"request id must be 1..{MAX_REQUEST_ID} bytes")
    context = frames[3] if len(frames) == 4 else b""
    if context and not _is_json_object(context):
        raise WireError("context frame is not a JSON object")
    return req_id, handler, body, context


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


def error_body(code: str, message: str, **extra: Any) -> bytes:
    return json.dumps({"code": code, "message": message, **extra}).encode()


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
