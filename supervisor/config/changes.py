"""What a reload may change in place, and what only a restart can (pure; no I/O).

A reload replaces every worker, so whatever a worker reads at its start (handlers,
interceptors) follows, and so do the master's own limits and schedules. What is bound or
opened once at start (the listen and control sockets in run_dir and their limits, the
metrics address, the keepalive reporter and its Tars conf, the start method's server, the
Centrifugo proxy and its event handlers) needs a restart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from supervisor.config.model import Config, Policy, PoolConfig


def _tars(config: Config) -> Any:
    conf = config.tars
    if conf is None:
        return None
    return (conf.app, conf.server, conf.node, conf.node_servant,
            [(a.name, a.endpoint) for a in conf.adapters])


RESTART_ONLY: dict[str, Callable[[Config], Any]] = {
    "server.chdir": lambda c: c.base_dir,
    "server.run_dir": lambda c: c.run_dir,
    "server.listen": lambda c: c.listen,
    "server.allow": lambda c: c.allow,
    "server.limits": lambda c: c.limits,
    "server.log.file": lambda c: c.log.file,
    "pool.start_method": lambda c: c.pool.start_method,
    "metrics.address": lambda c: c.metrics_address,
    "keepalive": lambda c: (c.keepalive_enabled, c.keepalive_interval),
    "tars.config": lambda c: (c.tars_config, _tars(c)),
    "centrifugo": lambda c: c.centrifugo,
}

RELOADABLE: dict[str, Callable[[Config], Any]] = {
    "handlers": lambda c: c.handlers,
    "interceptors": lambda c: c.interceptors,
    "schedules": lambda c: c.schedules,
    "server.log.level": lambda c: c.log.level,
    "server.log.format": lambda c: c.log.format,
    **{f"pool.{f.name}": (lambda c, n=f.name: getattr(c.pool, n))
       for f in dataclasses.fields(PoolConfig) if f.name not in ("start_method", "supervisor")},
    **{f"pool.supervisor.{f.name}": (lambda c, n=f.name: getattr(c.pool.supervisor, n))
       for f in dataclasses.fields(Policy)},
}


def carry_over(old: Config, new: Config) -> Config:
    """`new`, keeping the log file the running master was given when the YAML names none
    (`supervisor start` sends its log to run_dir/supervisor.log)."""
    if new.log.file is None and old.log.file is not None:
        return dataclasses.replace(new, log=dataclasses.replace(new.log, file=old.log.file))
    return new


def refused(old: Config, new: Config) -> str | None:
    """Why `new` cannot be applied in place (the first restart-only key that changed), or None."""
    for key, read in RESTART_ONLY.items():
        before, after = read(old), read(new)
        if before != after:
            return (f"{key}: changed from {_shown(before)} to {_shown(after)}; this takes a "
                    "restart (supervisor restart), so nothing was applied")
    return None


def changed(old: Config, new: Config) -> list[str]:
    """The reloadable keys whose values differ."""
    return [key for key, read in RELOADABLE.items() if read(old) != read(new)]


def _shown(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."
