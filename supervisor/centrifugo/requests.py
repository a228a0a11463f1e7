"""What a Centrifugo handler receives: one request class per proxy event.

Attributes are the proto's field names. `data` is always the raw bytes the client sent,
whether Centrifugo used JSON encoding (`data`) or binary encoding (`b64data`, decoded by
the gRPC helper); `headers` holds the call's gRPC metadata (the HTTP headers Centrifugo
was told to pass on), without the proxy credentials.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, fields
from typing import Any, Self

_BYTES = {"bytes": True}


@dataclass(frozen=True)
class ProxyRequest:
    """Fields every proxy request carries."""

    client: str = ""
    transport: str = ""
    protocol: str = ""
    encoding: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_wire(cls, body: Any, headers: dict[str, str]) -> Self:
        """Build from the helper's JSON (proto field names, bytes as base64 text)."""
        if not isinstance(body, dict):
            raise ValueError(f"{cls.__name__}: expected a JSON object, got {type(body).__name__}")
        known = {item.name: item for item in fields(cls) if item.name != "headers"}
        values: dict[str, Any] = {}
        for key, value in body.items():
            item = known.get(key)
            if item is None:
                raise ValueError(f"{cls.__name__}: unknown field {key!r}")
            values[key] = base64.b64decode(value, validate=True) if item.metadata else value
        return cls(**values, headers=dict(headers))


class _JsonData:
    data: bytes

    def json(self) -> Any:
        """`data` decoded as JSON (raises ValueError when it is not JSON)."""
        return json.loads(self.data)


@dataclass(frozen=True)
class ConnectRequest(_JsonData, ProxyRequest):
    data: bytes = field(default=b"", metadata=_BYTES)
    name: str = ""
    version: str = ""
    channels: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RefreshRequest(ProxyRequest):
    user: str = ""
    meta: bytes = field(default=b"", metadata=_BYTES)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SubscribeRequest(_JsonData, ProxyRequest):
    user: str = ""
    channel: str = ""
    token: str = ""
    meta: bytes = field(default=b"", metadata=_BYTES)
    data: bytes = field(default=b"", metadata=_BYTES)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PublishRequest(_JsonData, ProxyRequest):
    user: str = ""
    channel: str = ""
    data: bytes = field(default=b"", metadata=_BYTES)
    meta: bytes = field(default=b"", metadata=_BYTES)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RPCRequest(_JsonData, ProxyRequest):
    user: str = ""
    method: str = ""
    data: bytes = field(default=b"", metadata=_BYTES)
    meta: bytes = field(default=b"", metadata=_BYTES)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SubRefreshRequest(ProxyRequest):
    user: str = ""
    channel: str = ""
    meta: bytes = field(default=b"", metadata=_BYTES)
    labels: dict[str, str] = field(default_factory=dict)
