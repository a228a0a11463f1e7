"""What a handler receives, and how what it returns becomes response bytes."""

from __future__ import annotations

import json
from typing import Any


class Payload:
    """One request as a handler sees it: raw body bytes and a context dict."""

    __slots__ = ("body", "context")

    def __init__(self, body: bytes = b"", context: dict | None = None) -> None:
        self.body = body
        self.context = {} if context is None else context

    def json(self) -> Any:
        """The body decoded as JSON (raises ValueError when it is not JSON)."""
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Payload(body={self.body[:64]!r}, context={self.context!r})"


def encode_result(result: Any) -> bytes:
    """None -> empty, bytes as they are, str as UTF-8, anything else as JSON.

    Raises TypeError for a value JSON cannot carry, so the caller gets a clear
    HandlerError instead of a worker that dies on a bad return value.
    """
    if result is None:
        return b""
    if isinstance(result, bytes):
        return result
    if isinstance(result, str):
        return result.encode()
    if isinstance(result, bytearray | memoryview):
        return bytes(result)
    try:
        return json.dumps(result, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"handler returned {type(result).__name__}, which is not "
                        f"None, bytes, str or JSON-serialisable: {exc}") from None
