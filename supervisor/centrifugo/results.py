"""What a Centrifugo handler returns: one result class per event, plus `Error` and `Disconnect`.

Plain Python, no protobuf: these are built in the worker and travel to the gRPC helper as
JSON whose keys are the proto's field names. Attributes carry the proto's names too. The
payload fields (`data`, `info`, `meta`) take bytes, text (sent as UTF-8) or any JSON value
(sent encoded); they are held as bytes. Construction checks every value, so a mistake is
raised where the handler made it, not later as a puzzling response.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field, fields
from typing import Any

REASON_BYTES = 32
Payload = Any
"""A payload field (`data`, `info`, `meta`): bytes, text (sent as UTF-8) or any JSON value."""
UInt64 = int
"""An unsigned 64-bit proto field."""

# Field kinds, read from the annotations: a name below, a class ("X | None"), or
# ("list"|"map", class name) for `list[X]` / `dict[str, X]`.
STR, INT64, UINT64, BOOL, PAYLOAD, STRINGS, LABELS, OPT_BOOL = (
    "str", "int", "UInt64", "bool", "Payload", "list[str]", "dict[str, str]", "bool | None")
_SIMPLE = frozenset((STR, INT64, UINT64, BOOL, PAYLOAD, STRINGS, LABELS, OPT_BOOL))
_LIST, _MAP, _OPTIONAL = (re.compile(r"list\[(\w+)\]"), re.compile(r"dict\[str, (\w+)\]"),
                          re.compile(r"(\w+) \| None"))


def _kind(annotation: str) -> Any:
    if annotation in _SIMPLE:
        return annotation
    for container, pattern in (("list", _LIST), ("map", _MAP)):
        if match := pattern.fullmatch(annotation):
            return container, match.group(1)
    if match := _OPTIONAL.fullmatch(annotation):
        return match.group(1)
    raise TypeError(f"no field kind for annotation {annotation!r}")


def payload_bytes(value: Any, where: str) -> bytes:
    """bytes as they are, str as UTF-8, None as empty, anything else as compact JSON."""
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    try:
        return json.dumps(value, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where}: expected bytes, str or a JSON value, got "
                        f"{type(value).__name__} ({exc})") from None


def _check(where: str, kind: Any, value: Any) -> Any:
    """`value` checked against `kind` and normalised (payloads to bytes, lists to lists)."""
    if kind == PAYLOAD:
        return payload_bytes(value, where)
    if kind == STR:
        ok = isinstance(value, str)
    elif kind == BOOL:
        ok = isinstance(value, bool)
    elif kind == OPT_BOOL:
        ok = value is None or isinstance(value, bool)
    elif kind in (INT64, UINT64):
        low, high = (0, 1 << 64) if kind == UINT64 else (-(1 << 63), 1 << 63)
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value < high
    elif kind == STRINGS:
        ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        value = list(value) if ok else value
    elif kind == LABELS:
        ok = isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str)
                                             for k, v in value.items())
    elif isinstance(kind, tuple):
        container, cls = kind[0], _resolve(kind[1])
        if container == "list":
            ok = isinstance(value, list | tuple) and all(isinstance(v, cls) for v in value)
            value = list(value) if ok else value
        else:
            ok = isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, cls)
                                                 for k, v in value.items())
    else:
        ok = value is None or isinstance(value, _resolve(kind))
    if not ok:
        raise TypeError(f"{where}: expected {_describe(kind)}, got {type(value).__name__} "
                        f"{value!r:.80}")
    return value


def _resolve(name: str) -> type:
    """The class a field kind names (looked up late: FilterNode contains FilterNodes)."""
    return globals()[name]


def _describe(kind: Any) -> str:
    if isinstance(kind, tuple):
        what = "list of" if kind[0] == "list" else "dict of str to"
        return f"{what} {kind[1]}"
    if kind not in _SIMPLE:
        return f"{kind} or None"
    return {STR: "str", BOOL: "bool", OPT_BOOL: "bool or None", INT64: "a 64-bit int",
            UINT64: "an int >= 0", STRINGS: "list of str", LABELS: "dict of str to str"}[kind]


class _Checked:
    """Checks and normalises every field after construction (frozen dataclasses)."""

    def __post_init__(self) -> None:
        for item in fields(self):
            where = f"{type(self).__name__}.{item.name}"
            object.__setattr__(self, item.name,
                               _check(where, _kind(item.type), getattr(self, item.name)))

    def to_wire(self) -> dict[str, Any]:
        """The proto's fields by name, defaults left out, bytes as base64 text."""
        out: dict[str, Any] = {}
        for item in fields(self):
            value, kind = getattr(self, item.name), _kind(item.type)
            if value is None or (kind != OPT_BOOL and not isinstance(value, _Checked) and
                                 value in ("", b"", 0, False, [], {})):
                continue
            if kind == PAYLOAD:
                value = base64.b64encode(value).decode("ascii")
            elif kind == OPT_BOOL:
                value = {"value": value}
            elif isinstance(kind, tuple):
                value = [v.to_wire() for v in value] if kind[0] == "list" else \
                    {k: v.to_wire() for k, v in value.items()}
            elif isinstance(value, _Checked):
                value = value.to_wire()
            out[item.name] = value
        return out


# --- pieces of results ---

@dataclass(frozen=True)
class FilterNode(_Checked):
    """A tag filter for a server-side subscription (`op`: "", "and", "or", "not")."""

    op: str = ""
    key: str = ""
    cmp: str = ""
    val: str = ""
    vals: list[str] = field(default_factory=list)
    nodes: list[FilterNode] = field(default_factory=list)


@dataclass(frozen=True)
class SubscribeOptionOverride(_Checked):
    """Per-subscription overrides of the namespace's options; None keeps the namespace's."""

    presence: bool | None = None
    join_leave: bool | None = None
    force_recovery: bool | None = None
    force_positioning: bool | None = None
    force_push_join_leave: bool | None = None


@dataclass(frozen=True)
class SubscribeOptions(_Checked):
    """A server-side subscription made at connect (`ConnectResult.subs`)."""

    expire_at: int = 0
    info: Payload = b""
    data: Payload = b""
    override: SubscribeOptionOverride | None = None
    server_tags_filter: FilterNode | None = None
    cache_recover: bool = False


@dataclass(frozen=True)
class ChannelsCapability(_Checked):
    """Channels the connection may use without further proxy calls, and for what."""

    channels: list[str] = field(default_factory=list)
    allow: list[str] = field(default_factory=list)
    match: str = ""


# --- results, one per event ---

@dataclass(frozen=True)
class ConnectResult(_Checked):
    user: str = ""
    expire_at: int = 0
    info: Payload = b""
    data: Payload = b""
    channels: list[str] = field(default_factory=list)
    subs: dict[str, SubscribeOptions] = field(default_factory=dict)
    meta: Payload = b""
    caps: list[ChannelsCapability] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RefreshResult(_Checked):
    expired: bool = False
    expire_at: int = 0
    info: Payload = b""
    meta: Payload = b""
    caps: list[ChannelsCapability] = field(default_factory=list)


@dataclass(frozen=True)
class SubscribeResult(_Checked):
    expire_at: int = 0
    info: Payload = b""
    data: Payload = b""
    override: SubscribeOptionOverride | None = None
    allow: list[str] = field(default_factory=list)
    server_tags_filter: FilterNode | None = None


@dataclass(frozen=True)
class PublishResult(_Checked):
    data: Payload = b""
    skip_history: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    idempotency_key: str = ""
    delta: bool = False
    version: UInt64 = 0
    version_epoch: str = ""


@dataclass(frozen=True)
class RPCResult(_Checked):
    data: Payload = b""


@dataclass(frozen=True)
class SubRefreshResult(_Checked):
    expired: bool = False
    expire_at: int = 0
    info: Payload = b""


# --- refusals ---

def _code(value: Any, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{what} code must be an int in {low}..{high}, got {value!r}")
    return value


class Error(Exception):
    """An application error for the client (codes 400-1999); return it or raise it."""

    def __init__(self, code: int, message: str = "", temporary: bool = False) -> None:
        self.code = _code(code, 400, 1999, "Error")
        if not isinstance(message, str) or not isinstance(temporary, bool):
            raise TypeError("Error(code, message: str, temporary: bool)")
        self.message = message
        self.temporary = temporary
        super().__init__(code, message)

    def to_wire(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "temporary": self.temporary}

    def __repr__(self) -> str:
        return f"Error({self.code}, {self.message!r}, temporary={self.temporary})"


class Disconnect(Exception):
    """Close the connection: codes 4000-4499 reconnect, 4500-4999 are final; reason <= 32 bytes."""

    def __init__(self, code: int, reason: str = "") -> None:
        self.code = _code(code, 4000, 4999, "Disconnect")
        if not isinstance(reason, str):
            raise TypeError("Disconnect(code, reason: str)")
        if len(reason.encode()) > REASON_BYTES:
            raise ValueError(f"Disconnect reason must be at most {REASON_BYTES} bytes, "
                             f"got {len(reason.encode())}")
        self.reason = reason
        super().__init__(code, reason)

    def to_wire(self) -> dict[str, Any]:
        return {"code": self.code, "reason": self.reason}

    def __repr__(self) -> str:
        return f"Disconnect({self.code}, {self.reason!r})"
