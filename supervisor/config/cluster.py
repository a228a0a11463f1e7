"""The `cluster:` section and a singleton schedule's `anchor:`, checked into plain values.

Pure: no engine is imported here, so `supervisor check` validates the section on a
machine without the redis or etcd extras. The engines live in `supervisor.cluster`.
"""

from __future__ import annotations

import re
import socket
import zlib
from dataclasses import dataclass
from typing import Any

from supervisor.config.values import parse_duration
from supervisor.errors import ConfigError

BACKENDS = ("redis", "etcd")
ON_ENGINE_LOSS = ("stop", "local")
_BACKEND = re.compile(r"^(redis|etcd)://([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})(?:/(\d+))?$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,99}$")
_KEYS = ("backend", "name", "node_id", "lease", "timeout", "claim_ahead", "on_engine_loss")


@dataclass(frozen=True)
class ClusterConfig:
    """Where the engine is and how the lease behaves; durations in seconds."""

    backend: str
    kind: str
    host: str
    port: int
    db: int
    name: str | None
    node_id: str
    lease: float = 10.0
    timeout: float = 1.0
    claim_ahead: float = 0.1
    on_engine_loss: str = "stop"

    @property
    def renew_every(self) -> float:
        """Renewals come three times per lease, so two can fail before it runs out."""
        return self.lease / 3

    def named(self, name: str) -> ClusterConfig:
        """This section with its key prefix filled in (from the Tars app.server)."""
        return ClusterConfig(**{**self.__dict__, "name": name})


def default_node_id(run_dir: str) -> str:
    """Host name plus a stable hash of the run directory: unique per master on a host."""
    return f"{socket.gethostname()}-{zlib.crc32(run_dir.encode()):08x}"


def parse_cluster(raw: Any, run_dir: str, where: str = "cluster") -> ClusterConfig:
    """Check the section; ConfigError(`where.key: what was expected`) on the first problem."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
    for key in raw:
        if key not in _KEYS:
            raise ConfigError(f"{where}.{key}: unknown key (expected one of: {', '.join(_KEYS)})")
    backend = raw.get("backend")
    match = _BACKEND.match(backend) if isinstance(backend, str) else None
    if match is None or not 0 < int(match.group(3)) < 65536:
        raise ConfigError(f"{where}.backend: expected redis://HOST:PORT[/DB] or "
                          f"etcd://HOST:PORT, got {backend!r}")
    kind, host, port, db = match.group(1), match.group(2).strip("[]"), int(match.group(3)), \
        match.group(4)
    if kind == "etcd" and db is not None:
        raise ConfigError(f"{where}.backend: etcd takes no /DB, got {backend!r}")
    name = raw.get("name")
    if name is not None and not (isinstance(name, str) and _NAME.match(name)):
        raise ConfigError(f"{where}.name: expected letters, digits, '.', '_' or '-' "
                          f"(at most 100), got {name!r}")
    node_id = raw.get("node_id", default_node_id(run_dir))
    if not (isinstance(node_id, str) and _NAME.match(node_id)):
        raise ConfigError(f"{where}.node_id: expected letters, digits, '.', '_' or '-' "
                          f"(at most 100), got {node_id!r}")
    lease = _seconds(raw, "lease", "10s", where)
    timeout = _seconds(raw, "timeout", lease / 10, where)
    claim_ahead = _seconds(raw, "claim_ahead", "100ms", where)
    if lease < 0.3:
        raise ConfigError(f"{where}.lease: expected at least 300ms, got {raw['lease']!r}")
    if timeout > lease / 3 + 1e-9:
        raise ConfigError(f"{where}.timeout: expected at most a third of the lease "
                          f"({lease / 3:g}s) so a renewal can fail and be retried in time, "
                          f"got {raw['timeout']!r}")
    if claim_ahead > lease / 3 + 1e-9:
        raise ConfigError(f"{where}.claim_ahead: expected at most a third of the lease "
                          f"({lease / 3:g}s), got {raw['claim_ahead']!r}")
    loss = raw.get("on_engine_loss", "stop")
    if loss not in ON_ENGINE_LOSS:
        raise ConfigError(f"{where}.on_engine_loss: expected one of "
                          f"{', '.join(ON_ENGINE_LOSS)}, got {loss!r}")
    return ClusterConfig(backend=backend, kind=kind, host=host, port=port,
                         db=int(db or 0), name=name, node_id=node_id, lease=lease,
                         timeout=timeout, claim_ahead=claim_ahead, on_engine_loss=loss)


def _seconds(raw: dict, key: str, default: Any, where: str) -> float:
    value = raw.get(key, default)
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"{where}.{key}: {exc}") from None
    if seconds <= 0:
        raise ConfigError(f"{where}.{key}: expected a duration above zero, got {value!r}")
    return seconds


def anchor(value: Any) -> float:
    """A singleton schedule's `anchor:`: unix seconds, or an ISO-8601 time with its offset."""
    from datetime import datetime

    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    if isinstance(value, datetime | str):
        try:
            moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment.timestamp()
    raise ValueError(f"expected unix seconds or an ISO-8601 time with an offset "
                     f"(2024-01-01T00:00:00+00:00), got {value!r}")
