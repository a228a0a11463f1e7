"""Config values as written in YAML, checked: durations, sizes, endpoints, peers, names.

Each converter takes the raw YAML value and returns it checked, or raises ValueError saying
what was expected; the loader adds the file and key path.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from typing import Any

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_SCALE = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|K|M|G)?\s*$", re.IGNORECASE)
_SIZE_SCALE = {"b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2,
               "g": 1024**3, "gb": 1024**3}


def parse_duration(value: object) -> float:
    """Seconds from `500ms`, `1s`, `10s`, `1m`, `1h` or a bare number of seconds.

    Raises ValueError naming what was expected; negative values never match.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 500ms, 1s, 1m, 1h")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("expected a duration >= 0")
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"expected a duration such as 500ms, 1s, 1m, 1h, got {value!r}")
    return float(match.group(1)) * _DURATION_SCALE[match.group(2) or "s"]


def parse_size_mb(value: object) -> float:
    """Megabytes from `128MB`, `1GB`, `512KB` or a bare number (already MB)."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 128MB")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("expected a size >= 0")
        return float(value)
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"expected a size such as 128MB or 1GB, got {value!r}")
    unit = (match.group(2) or "MB").lower()
    return float(match.group(1)) * _SIZE_SCALE[unit] / 1024**2


def size_bytes(minimum: int = 0) -> Convert:
    """Bytes from `16MB`, `512KB`, `1GB` or a bare number (MB, as every size here)."""
    def convert(value: Any) -> int:
        size = int(parse_size_mb(value) * 1024**2)
        if size < minimum:
            raise ValueError(f"expected a size of at least {minimum} bytes, got {value!r}")
        return size

    return convert


Convert = Callable[[Any], Any]


def integer(minimum: int = 0, maximum: int | None = None) -> Convert:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"expected an integer >= {minimum}, got {value!r}")
        if maximum is not None and value > maximum:
            raise ValueError(f"expected an integer <= {maximum}, got {value!r}")
        return value

    return convert


def duration(positive: bool = False) -> Convert:
    def convert(value: Any) -> float:
        seconds = parse_duration(value)
        if positive and seconds <= 0:
            raise ValueError(f"expected a duration above zero, got {value!r}")
        return seconds

    return convert


def choice(*options: str) -> Convert:
    def convert(value: Any) -> str:
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {value!r}")
        return value

    return convert


def string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def time_zone(value: Any) -> str:
    """An IANA zone name the system's or the `tzdata` package's database knows."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    text = string(value)
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"expected an IANA time zone name such as Europe/Berlin or UTC, "
                         f"got {value!r}") from None
    return text


def optional(convert: Convert) -> Convert:
    return lambda value: None if value is None else convert(value)


def mapping(value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"expected a mapping, got {type(value).__name__}")
    return value


def handler_path(value: Any) -> str:
    """`module:function`, the way handlers and interceptors are named."""
    text = string(value)
    module, _, attr = text.partition(":")
    if not module or not attr:
        raise ValueError(f"expected 'module:function', got {value!r}")
    return text


_TCP = re.compile(r"^tcp://(\*|[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\])?:(\d{1,5})$")


def endpoint(value: Any) -> str:
    """An `ipc://PATH` or `tcp://HOST:PORT` endpoint; a missing or `*` host means loopback.

    A relative ipc path stays as written: the loader resolves it against the base directory.
    """
    text = string(value)
    if text.startswith("ipc://") and len(text) > len("ipc://"):
        return text
    match = _TCP.match(text)
    if match and 0 < int(match.group(2)) < 65536:
        host = match.group(1)
        return text if host not in (None, "*") else f"tcp://127.0.0.1:{match.group(2)}"
    raise ValueError(f"expected ipc://PATH or tcp://HOST:PORT, got {value!r}")


def split_address(address: str) -> tuple[str, int]:
    """`HOST:PORT`, `[V6]:PORT` or `:PORT` (loopback); raise ValueError otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    host = host.strip("[]") or "127.0.0.1"
    return ("127.0.0.1" if host == "*" else host), int(port)


def host_port(value: Any) -> str:
    split_address(string(value))
    return value


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?$")


def host(value: Any) -> str:
    """A host to bind or connect to: `*`, an IP address, or a DNS name (not resolved here)."""
    text = string(value)
    if text == "*" or _HOST_NAME.match(text):
        return text
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"expected an IP address or a host name, got {text!r}") from None


_PEER_PATTERN = re.compile(r"^[0-9A-Fa-f.:*]+$")


def check_peers(entries: Iterable[str]) -> list[str]:
    """The allow entries, checked: ValueError names the first one that is no address or pattern."""
    peers = []
    for entry in entries:
        text = str(entry).strip()
        if "*" in text:
            if not _PEER_PATTERN.match(text):
                raise ValueError(f"{text!r} is not an IP address or a pattern like 10.0.0.*")
        else:
            try:
                text = str(ipaddress.ip_address(text))
            except ValueError:
                raise ValueError(f"{text!r} is not an IP address") from None
        peers.append(text)
    return peers


def peers(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list of IP addresses, got {value!r}")
    return check_peers(value)


def counted(count: int, noun: str) -> str:
    """`1 worker`, `2 workers`: a count with its noun in the right number."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
