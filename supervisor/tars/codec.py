"""TARS wire format of the node's `ServerF` calls, versions 1 (TARS) and 3 (TUP).

Field encoding is done by `tarsio` (a Rust codec whose frames match the official ones byte for
byte); this module adds what the node expects around it: the length-prefixed frame, the
RequestPacket and ResponsePacket layouts, and where each version puts the call's arguments and
its return value. Whatever the input, decoding raises only `TarsDecodeError`, so a caller that
reads from a socket has exactly one error to handle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import tarsio
from tarsio import Struct
from tarsio import field as tag

NODE_SERVANT = "tars.tarsnode.ServerObj"
TARS_VERSION = 1
TUP_VERSION = 3
NORMAL = 0
ONEWAY = 1
MAX_FRAME = 16 * 1024 * 1024
"""Largest frame accepted; a node's replies are tiny, so a bigger length means garbage."""

_STATUS_CODE = "STATUS_RESULT_CODE"
_STATUS_DESC = "STATUS_RESULT_DESC"


class TarsDecodeError(ValueError):
    """Bytes that are not a well-formed TARS frame, packet or ServerF call."""


@dataclass(frozen=True)
class ServerInfo:
    """The `tars.ServerInfo` struct that keepAlive carries."""

    application: str
    server_name: str
    pid: int
    adapter: str = ""


@dataclass(frozen=True)
class Request:
    """A RequestPacket; `buffer` holds the encoded arguments (the reply of a v3 call too)."""

    version: int
    packet_type: int
    request_id: int
    servant: str
    func: str
    buffer: bytes
    timeout_ms: int = 0
    message_type: int = 0
    context: dict[str, str] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """What came back: `ret` is the framework's code, `result` the function's return value."""

    version: int
    request_id: int
    ret: int
    result: int | None
    desc: str = ""


@dataclass(frozen=True)
class ServerFCall:
    """A decoded ServerF call: `info` for keepAlive/keepActiving, the strings for reportVersion."""

    request: Request
    info: ServerInfo | None = None
    app: str = ""
    server_name: str = ""
    app_version: str = ""

    @property
    def func(self) -> str:
        """The called function's name, so callers need not reach into the packet."""
        return self.request.func


class _ServerInfo(Struct):
    application: str = tag(tag=0)
    serverName: str = tag(tag=1)
    pid: int = tag(tag=2)
    adapter: str = tag(tag=3, default="")


class _RequestPacket(Struct, kw_only=True):
    iVersion: int = tag(tag=1)
    cPacketType: int = tag(tag=2, default=0)
    iMessageType: int = tag(tag=3, default=0)
    iRequestId: int = tag(tag=4)
    sServantName: str = tag(tag=5)
    sFuncName: str = tag(tag=6)
    sBuffer: bytes = tag(tag=7)
    iTimeout: int = tag(tag=8, default=0)
    context: dict[str, str] = tag(tag=9, default_factory=dict)
    status: dict[str, str] = tag(tag=10, default_factory=dict)


class _ResponsePacket(Struct):
    iVersion: int = tag(tag=1, default=TARS_VERSION)
    cPacketType: int = tag(tag=2, default=NORMAL)
    iRequestId: int = tag(tag=3, default=0)
    iMessageType: int = tag(tag=4, default=0)
    iRet: int = tag(tag=5, default=0)
    sBuffer: bytes = tag(tag=6, default=b"")
    status: dict[str, str] = tag(tag=7, default_factory=dict)
    sResultDesc: str = tag(tag=8, default="")
    context: dict[str, str] = tag(tag=9, default_factory=dict)


class _Version(Struct):
    iVersion: int = tag(tag=1, default=0)


class _KeepAliveArgs(Struct):
    info: _ServerInfo = tag(tag=1)


class _ReportVersionArgs(Struct):
    app: str = tag(tag=1)
    serverName: str = tag(tag=2)
    version: str = tag(tag=3)


class _InfoAt0(Struct):
    value: _ServerInfo = tag(tag=0)


class _StrAt0(Struct):
    value: str = tag(tag=0)


class _IntAt0(Struct):
    value: int = tag(tag=0)


class _OptIntAt0(Struct):
    value: int | None = tag(tag=0, default=None)


class _TupData(Struct):
    data: dict[str, bytes] = tag(tag=0)


def _decode(cls: type[Any], data: bytes, what: str) -> Any:
    try:
        return cls.decode(data)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a Rust panic in tarsio arrives as pyo3's PanicException
        raise TarsDecodeError(f"malformed {what}: {str(exc)[:200]}") from None


def frame(body: bytes) -> bytes:
    """Prefix `body` with the 4-byte big-endian length (counting itself) that TARS streams use."""
    return (len(body) + 4).to_bytes(4, "big") + body


def frame_length(header: bytes) -> int:
    """Total frame length announced by a 4-byte header; rejects lengths no node would send."""
    if len(header) != 4:
        raise TarsDecodeError(f"frame header needs 4 bytes, got {len(header)}")
    length = int.from_bytes(header, "big")
    if length <= 4 or length > MAX_FRAME:
        raise TarsDecodeError(f"implausible frame length {length}")
    return length


# Request field <-> RequestPacket field (the protocol's names).
_REQUEST_FIELDS = (("version", "iVersion"), ("packet_type", "cPacketType"),
                   ("message_type", "iMessageType"), ("request_id", "iRequestId"),
                   ("servant", "sServantName"), ("func", "sFuncName"), ("buffer", "sBuffer"),
                   ("timeout_ms", "iTimeout"), ("context", "context"), ("status", "status"))


def _copy(source: Any, pairs: Any) -> dict[str, Any]:
    """Fields of `source` under new names; the dict-valued ones copied."""
    return {to: dict(value) if isinstance(value := getattr(source, name), dict) else value
            for name, to in pairs}


def encode_request(request: Request) -> bytes:
    """Frame of a RequestPacket, ready to write to the node's socket."""
    return frame(_RequestPacket(**_copy(request, _REQUEST_FIELDS)).encode())


def decode_request(body: bytes) -> Request:
    """RequestPacket from a frame body (the bytes after the length)."""
    packet = _decode(_RequestPacket, body, "RequestPacket")
    return Request(**_copy(packet, [(to, name) for name, to in _REQUEST_FIELDS]))


def _tup(values: dict[str, Struct]) -> bytes:
    return _TupData({name: value.encode() for name, value in values.items()}).encode()


def _check_call(version: int, request_id: int) -> None:
    if version not in (TARS_VERSION, TUP_VERSION):
        raise ValueError(f"packet version must be 1 (TARS) or 3 (TUP), not {version}")
    if not 0 <= request_id < 2**31:
        raise ValueError(f"request id {request_id} out of int32 range")


def keep_alive(
    info: ServerInfo,
    *,
    request_id: int,
    version: int = TARS_VERSION,
    oneway: bool = False,
    timeout_ms: int = 3000,
    servant: str = NODE_SERVANT,
    func: str = "keepAlive",
) -> bytes:
    """Frame of `ServerF.keepAlive(info)`; `func="keepActiving"` gives the activating variant."""
    _check_call(version, request_id)
    wire = _ServerInfo(info.application, info.server_name, info.pid, info.adapter)
    if version == TARS_VERSION:
        args = _KeepAliveArgs(wire).encode()
    else:
        args = _tup({"serverInfo": _InfoAt0(wire)})
    return encode_request(
        Request(version, ONEWAY if oneway else NORMAL, request_id, servant, func, args, timeout_ms)
    )


def report_version(
    app: str,
    server_name: str,
    app_version: str,
    *,
    request_id: int,
    version: int = TARS_VERSION,
    oneway: bool = False,
    timeout_ms: int = 3000,
    servant: str = NODE_SERVANT,
) -> bytes:
    """Frame of `ServerF.reportVersion(app, serverName, version)`, sent once at start."""
    _check_call(version, request_id)
    if version == TARS_VERSION:
        args = _ReportVersionArgs(app, server_name, app_version).encode()
    else:
        args = _tup(
            {
                "app": _StrAt0(app),
                "serverName": _StrAt0(server_name),
                "version": _StrAt0(app_version),
            }
        )
    return encode_request(
        Request(
            version,
            ONEWAY if oneway else NORMAL,
            request_id,
            servant,
            "reportVersion",
            args,
            timeout_ms,
        )
    )


def _tup_values(buffer: bytes) -> dict[str, bytes]:
    return dict(_decode(_TupData, buffer, "TUP argument map").data)


def _status_code(status: dict[str, str]) -> int:
    text = status.get(_STATUS_CODE, "0") or "0"
    try:
        return int(text)
    except ValueError:
        raise TarsDecodeError(f"non-numeric {_STATUS_CODE} {text[:40]!r}") from None


def _check_version(version: int) -> None:
    if version == 2:
        raise TarsDecodeError("TUP version 2 (typed maps) is not supported")
    if version not in (TARS_VERSION, TUP_VERSION):
        raise TarsDecodeError(f"unknown packet version {version}")


def decode_reply(body: bytes) -> Reply:
    """The node's answer: a ResponsePacket (v1, optional fields may be absent) or, for v3, a
    RequestPacket whose TUP map holds the return value under `""` or `tars_ret`."""
    version = _decode(_Version, body, "reply").iVersion
    _check_version(version)
    if version == TUP_VERSION:
        packet = _decode(_RequestPacket, body, "TUP reply")
        values = _tup_values(packet.sBuffer) if packet.sBuffer else {}
        raw = values.get("", values.get("tars_ret"))
        result = None if raw is None else _decode(_IntAt0, raw, "TUP return value").value
        return Reply(
            version=version,
            request_id=packet.iRequestId,
            ret=_status_code(packet.status),
            result=result,
            desc=packet.status.get(_STATUS_DESC, ""),
        )
    packet = _decode(_ResponsePacket, body, "ResponsePacket")
    result = _decode(_OptIntAt0, packet.sBuffer, "return value").value if packet.sBuffer else None
    return Reply(
        version=packet.iVersion,
        request_id=packet.iRequestId,
        ret=packet.iRet,
        result=result,
        desc=packet.sResultDesc,
    )


def _info(wire: _ServerInfo) -> ServerInfo:
    return ServerInfo(wire.application, wire.serverName, wire.pid, wire.adapter)


def decode_call(request: Request) -> ServerFCall:
    """Arguments of a ServerF call as the node would read them, for either packet version."""
    _check_version(request.version)
    tup = request.version == TUP_VERSION
    if request.func in ("keepAlive", "keepActiving"):
        if tup:
            raw = _tup_values(request.buffer).get("serverInfo")
            if raw is None:
                raise TarsDecodeError("TUP keepAlive without serverInfo")
            wire = _decode(_InfoAt0, raw, "serverInfo").value
        else:
            wire = _decode(_KeepAliveArgs, request.buffer, "keepAlive arguments").info
        return ServerFCall(request, info=_info(wire))
    if request.func == "reportVersion":
        if tup:
            values = _tup_values(request.buffer)
            names = ("app", "serverName", "version")
            if any(name not in values for name in names):
                raise TarsDecodeError("TUP reportVersion without app, serverName or version")
            app, server, ver = (_decode(_StrAt0, values[n], n).value for n in names)
        else:
            args = _decode(_ReportVersionArgs, request.buffer, "reportVersion arguments")
            app, server, ver = args.app, args.serverName, args.version
        return ServerFCall(request, app=app, server_name=server, app_version=ver)
    return ServerFCall(request)


def encode_reply(request: Request, result: int, *, ret: int = 0, desc: str = "") -> bytes:
    """Frame answering `request` the way a node does: `result` is the function's return value,
    `ret` the framework's code (non-zero means the call itself failed)."""
    if request.version == TUP_VERSION:
        values = _tup({"": _IntAt0(result), "tars_ret": _IntAt0(result)})
        reply = Request(
            TUP_VERSION,
            NORMAL,
            request.request_id,
            request.servant,
            request.func,
            values,
            status={_STATUS_CODE: str(ret), _STATUS_DESC: desc},
        )
        return encode_request(reply)
    packet = _ResponsePacket(
        iVersion=request.version,
        cPacketType=NORMAL,
        iRequestId=request.request_id,
        iMessageType=request.message_type,
        iRet=ret,
        sBuffer=_IntAt0(result).encode(),
        sResultDesc=desc,
    )
    return frame(packet.encode())


def decode_raw(body: bytes) -> dict[int, Any]:
    """Tag -> value view of any TARS struct body, for diagnostics and tests."""
    try:
        return dict(tarsio.decode(body))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # see _decode
        raise TarsDecodeError(f"malformed TARS data: {str(exc)[:200]}") from None
