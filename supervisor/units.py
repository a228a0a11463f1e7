"""Durations (`500ms`, `1s`, `1m`) and sizes (`128MB`) as written in configs."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_SCALE = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|K|M|G)?\s*$", re.IGNORECASE)
_SIZE_SCALE = {"b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3}


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
