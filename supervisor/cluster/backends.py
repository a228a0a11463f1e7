"""Opening the engine a `cluster:` section names; its client library is imported only here."""

from __future__ import annotations

from supervisor.cluster.engine import Engine
from supervisor.config.cluster import ClusterConfig


def open_engine(config: ClusterConfig) -> Engine:
    """The engine the config names; ImportError (with the extra to install) if it is missing."""
    if config.kind == "redis":
        try:
            from supervisor.cluster.redis_engine import RedisEngine
        except ImportError as exc:
            raise ImportError(f"cluster.backend redis needs the redis extra: pip install "
                              f"'zmq-supervisor[redis]' ({exc})") from None
        return RedisEngine(config)
    from supervisor.cluster.etcd_engine import EtcdEngine

    return EtcdEngine(config)
