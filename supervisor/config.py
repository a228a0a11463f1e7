"""The YAML config: loaded once, checked strictly, turned into plain dataclasses.

Every problem becomes a `ConfigError` whose message is one line naming the file,
the key path and what was expected, so an operator can fix it without reading code.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from supervisor.cron import parse_cron
from supervisor.errors import ConfigError
from supervisor.units import parse_duration, parse_size_mb

if TYPE_CHECKING:
    from supervisor.cluster.settings import ClusterConfig
    from supervisor.tars.conf import TarsServerConf

DEFAULT_PATH = "conf/supervisor.yaml"
START_METHODS = ("forkserver", "spawn", "fork")


@dataclass(frozen=True)
class LogConfig:
    level: str = "info"
    format: str = "text"
    file: str | None = None


@dataclass(frozen=True)
class Policy:
    """RoadRunner's `pool.supervisor` limits; zero means off."""

    watch_tick: float = 1.0
    ttl: float = 0.0
    idle_ttl: float = 0.0
    max_worker_memory: float = 0.0
    exec_ttl: float = 0.0


@dataclass(frozen=True)
class PoolConfig:
    num_workers: int = 2
    max_jobs: int = 0
    max_queue_size: int = 0
    allocate_timeout: float = 60.0
    destroy_timeout: float = 60.0
    start_method: str = "forkserver"
    supervisor: Policy = field(default_factory=Policy)


@dataclass(frozen=True)
class ScheduleConfig:
    name: str
    handler: str
    every: float | None = None
    cron: str | None = None
    overlap: str = "skip"
    singleton: bool = False
    anchor: float | None = None


@dataclass(frozen=True)
class Config:
    path: str
    run_dir: Path
    listen: str
    log: LogConfig
    pool: PoolConfig
    handlers: dict[str, str]
    interceptors: dict[str, list[str]]
    schedules: list[ScheduleConfig]
    keepalive_enabled: bool | None = None
    keepalive_interval: float = 30.0
    tars_config: str | None = None
    metrics_address: str | None = None
    allow: list[str] = field(default_factory=list)
    tars: TarsServerConf | None = None
    cluster: ClusterConfig | None = None

    @property
    def worker_endpoint(self) -> str:
        return f"ipc://{self.run_dir}/workers.sock"

    @property
    def log_endpoint(self) -> str:
        return f"ipc://{self.run_dir}/logs.sock"

    @property
    def control_endpoint(self) -> str:
        return f"ipc://{self.run_dir}/control.sock"


class _Invalid(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


# --- value converters: each takes the raw YAML value and returns it checked ---

Convert = Callable[[Any], Any]


def _integer(minimum: int = 0) -> Convert:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"expected an integer >= {minimum}, got {value!r}")
        return value

    return convert


def _duration(positive: bool = False) -> Convert:
    def convert(value: Any) -> float:
        seconds = parse_duration(value)
        if positive and seconds <= 0:
            raise ValueError(f"expected a duration above zero, got {value!r}")
        return seconds

    return convert


def _size(value: Any) -> float:
    return parse_size_mb(value)


def _choice(*options: str) -> Convert:
    def convert(value: Any) -> str:
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {value!r}")
        return value

    return convert


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _optional(convert: Convert) -> Convert:
    return lambda value: None if value is None else convert(value)


_TCP = re.compile(r"^tcp://(\*|[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\])?:(\d{1,5})$")


def check_endpoint(value: Any) -> str:
    """An `ipc://PATH` or `tcp://HOST:PORT` endpoint; a missing or `*` host means loopback."""
    text = _string(value)
    if text.startswith("ipc://") and len(text) > len("ipc://"):
        return "ipc://" + os.path.abspath(text[len("ipc://") :])
    match = _TCP.match(text)
    if match and 0 < int(match.group(2)) < 65536:
        host = match.group(1)
        return text if host not in (None, "*") else f"tcp://127.0.0.1:{match.group(2)}"
    raise ValueError(f"expected ipc://PATH or tcp://HOST:PORT, got {value!r}")


def _host_port(value: Any) -> str:
    from supervisor.metrics import split_address

    split_address(_string(value))
    return value


def _peers(value: Any) -> list[str]:
    from supervisor.access import check_peers

    if not isinstance(value, list):
        raise ValueError(f"expected a list of IP addresses, got {value!r}")
    return check_peers(value)


def _handler_path(value: Any) -> str:
    text = _string(value)
    module, _, attr = text.partition(":")
    if not module or not attr:
        raise ValueError(f"expected 'module:function', got {value!r}")
    return text


def _mapping(value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"expected a mapping, got {type(value).__name__}")
    return value


def _section(data: Any, path: str, spec: dict[str, tuple[Any, Convert]]) -> dict[str, Any]:
    """Check one mapping against its spec: no unknown keys, every value converted."""
    try:
        data = _mapping(data)
    except ValueError as exc:
        raise _Invalid(path or "(top level)", str(exc)) from None
    for key in data:
        if key not in spec:
            raise _Invalid(f"{path}.{key}" if path else str(key),
                           f"unknown key (expected one of: {', '.join(spec)})")
    out = {}
    for key, (default, convert) in spec.items():
        try:
            out[key] = convert(data.get(key, default))
        except ValueError as exc:
            raise _Invalid(f"{path}.{key}" if path else key, str(exc)) from None
    return out


# --- environment expansion ---

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_VARIABLE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)


def expand_env(value: str, environ: dict[str, str]) -> Any:
    """Replace `${VAR}` and `${VAR:-default}`; a value that is one placeholder keeps YAML typing."""

    def substitute(match: re.Match) -> str:
        inner = _VARIABLE.match(match.group(1))
        if not inner:
            raise ValueError(f"bad placeholder ${{{match.group(1)}}}: expected ${{NAME}} "
                             "or ${NAME:-default}")
        name, default = inner.group(1), inner.group(2)
        if name in environ:
            return environ[name]
        if default is None:
            raise ValueError(f"environment variable {name} is not set and has no default")
        return default

    expanded = _PLACEHOLDER.sub(substitute, value)
    if "${" in _PLACEHOLDER.sub("", value):
        raise ValueError("unterminated ${ placeholder")
    if _PLACEHOLDER.fullmatch(value.strip()):
        return yaml.safe_load(expanded) if expanded.strip() else expanded
    return expanded


def _expand_tree(node: Any, path: str, environ: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _expand_tree(v, f"{path}.{k}" if path else str(k), environ)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_tree(v, f"{path}[{i}]", environ) for i, v in enumerate(node)]
    if isinstance(node, str) and "$" in node:
        try:
            return expand_env(node, environ)
        except ValueError as exc:
            raise _Invalid(path, str(exc)) from None
    return node


# --- the whole file ---

_SERVER = {"run_dir": ("./run", _string), "listen": (None, _optional(check_endpoint)),
           "log": (None, _mapping), "allow": (None, _optional(_peers))}
_LOG = {"level": ("info", _choice("debug", "info", "warning", "error")),
        "format": ("text", _choice("text", "json")), "file": (None, _optional(_string))}
_POOL = {"num_workers": (2, _integer()), "max_jobs": (0, _integer()),
         "max_queue_size": (0, _integer()), "allocate_timeout": ("60s", _duration(True)),
         "destroy_timeout": ("60s", _duration(True)),
         "start_method": ("forkserver", _choice(*START_METHODS)),
         "supervisor": (None, _mapping)}
_POLICY = {"watch_tick": ("1s", _duration(True)), "ttl": (0, _duration()),
           "idle_ttl": (0, _duration()), "max_worker_memory": (0, _size),
           "exec_ttl": (0, _duration())}
_TICKER = {"interval": ("1s", _duration(True)), "handler": ("tick", _string),
           "singleton": (False, _boolean)}
_SCHEDULE = {"name": (None, _string), "handler": (None, _string),
             "every": (None, _optional(_duration(True))), "cron": (None, _optional(_string)),
             "overlap": ("skip", _choice("skip", "allow")), "singleton": (False, _boolean),
             "anchor": (None, lambda value: value)}
_TOP = {"server": (None, _mapping), "pool": (None, _mapping), "handlers": (None, _mapping),
        "interceptors": (None, _mapping), "ticker": (None, _optional(_mapping)),
        "schedules": (None, _optional(list)), "keepalive": (None, _mapping),
        "tars": (None, _mapping), "metrics": (None, _mapping),
        "cluster": (None, _optional(_mapping))}


def _schedules(top: dict[str, Any], handlers: dict[str, str]) -> list[ScheduleConfig]:
    items = []
    if top["ticker"] is not None:
        ticker = _section(top["ticker"], "ticker", _TICKER)
        items.append(("ticker", ScheduleConfig(name="ticker", handler=ticker["handler"],
                                               every=ticker["interval"],
                                               singleton=ticker["singleton"])))
    for index, raw in enumerate(top["schedules"] or []):
        path = f"schedules[{index}]"
        entry = _section(raw, path, _SCHEDULE)
        if (entry["every"] is None) == (entry["cron"] is None):
            raise _Invalid(path, "expected exactly one of 'every' or 'cron'")
        if entry["cron"] is not None:
            try:
                parse_cron(entry["cron"])
            except ValueError as exc:
                raise _Invalid(f"{path}.cron", str(exc)) from None
        entry["anchor"] = _singleton_anchor(entry, path)
        items.append((path, ScheduleConfig(**entry)))
    seen = set()
    for path, schedule in items:
        if schedule.handler not in handlers:
            raise _Invalid(f"{path}.handler",
                           f"names unknown handler {schedule.handler!r} "
                           f"(defined: {', '.join(handlers) or 'none'})")
        if schedule.name in seen:
            raise _Invalid(f"{path}.name", f"duplicate schedule name {schedule.name!r}")
        seen.add(schedule.name)
    return [schedule for _, schedule in items]


def _singleton_anchor(entry: dict[str, Any], path: str) -> float | None:
    """`anchor:` places a singleton schedule's slot grid; it means nothing elsewhere."""
    if entry["singleton"] and entry["cron"] is not None:
        raise _Invalid(f"{path}.singleton", "singleton schedules need 'every' (cron "
                       "singletons are not supported yet)")
    if entry["anchor"] is None:
        return None
    if not entry["singleton"]:
        raise _Invalid(f"{path}.anchor", "only a singleton schedule takes an anchor")
    from supervisor.cluster.settings import parse_anchor

    try:
        return parse_anchor(entry["anchor"], f"{path}.anchor")
    except ConfigError as exc:
        raise _Invalid(f"{path}.anchor", str(exc).split(": ", 1)[1]) from None


def _cluster(top: dict[str, Any], schedules: list[ScheduleConfig],
             run_dir: Path) -> ClusterConfig | None:
    """The `cluster:` section; `singleton: true` anywhere needs one."""
    if top["cluster"] is None:
        lonely = [s.name for s in schedules if s.singleton]
        if lonely:
            raise _Invalid("cluster", f"schedule {lonely[0]!r} is singleton: expected a "
                           "cluster section with a backend (redis://... or etcd://...)")
        return None
    from supervisor.cluster.settings import parse_cluster

    try:
        return parse_cluster(top["cluster"], str(run_dir))
    except ConfigError as exc:
        key, _, message = str(exc).partition(": ")
        raise _Invalid(key, message) from None


def _build(raw: Any, path: str) -> Config:
    top = _section(raw, "", _TOP)
    server = _section(top["server"], "server", _SERVER)
    log = _section(server["log"], "server.log", _LOG)
    pool = _section(top["pool"], "pool", _POOL)
    policy = _section(pool.pop("supervisor"), "pool.supervisor", _POLICY)
    if pool["num_workers"] == 0:
        pool["num_workers"] = os.cpu_count() or 1
    handlers = {}
    for name, target in top["handlers"].items():
        try:
            handlers[str(name)] = _handler_path(target)
        except ValueError as exc:
            raise _Invalid(f"handlers.{name}", str(exc)) from None
    interceptors = {}
    for name, chain in top["interceptors"].items():
        key = f"interceptors.{name}"
        if name != "*" and name not in handlers:
            raise _Invalid(key, f"expected '*' or a handler name, got {name!r}")
        if not isinstance(chain, list):
            raise _Invalid(key, "expected a list of 'module:function'")
        try:
            interceptors[str(name)] = [_handler_path(item) for item in chain]
        except ValueError as exc:
            raise _Invalid(key, str(exc)) from None
    keepalive = _section(top["keepalive"], "keepalive",
                         {"enabled": (None, _optional(_boolean)),
                          "interval": ("30s", _duration(True))})
    tars = _section(top["tars"], "tars", {"config": (None, _optional(_string))})
    metrics = _section(top["metrics"], "metrics", {"address": (None, _optional(_host_port))})
    run_dir = Path(os.path.abspath(server["run_dir"]))
    schedules = _schedules(top, handlers)
    return Config(
        path=path,
        run_dir=run_dir,
        listen=server["listen"] or f"ipc://{run_dir}/exec.sock",
        log=LogConfig(**log),
        pool=PoolConfig(supervisor=Policy(**policy), **pool),
        handlers=handlers,
        interceptors=interceptors,
        schedules=schedules,
        keepalive_enabled=keepalive["enabled"],
        keepalive_interval=keepalive["interval"],
        tars_config=tars["config"],
        metrics_address=metrics["address"],
        allow=server["allow"] or [],
        cluster=_cluster(top, schedules, run_dir),
    )


def load(path: str | os.PathLike | None = None, environ: dict[str, str] | None = None,
         tars_config: str | None = None) -> Config:
    """Read, expand and check a config file and the Tars conf it (or `tars_config`) names.

    Raise ConfigError with a one-line message naming the file and the key or line.
    """
    environ = dict(os.environ if environ is None else environ)
    path = str(path or environ.get("SUPERVISOR_CONFIG") or DEFAULT_PATH)
    try:
        with open(path, encoding="utf-8") as stream:
            raw = yaml.safe_load(stream)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: {where}invalid YAML: {problem}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc.reason}") from None
    try:
        config = _build(_expand_tree(raw, "", environ), path)
    except _Invalid as exc:
        raise ConfigError(f"{path}: {exc.key}: {exc}") from None
    from supervisor.tars.settings import resolve

    return _cluster_name(resolve(config, tars_config))


def _cluster_name(config: Config) -> Config:
    """The cluster's key prefix defaults to the Tars app.server; without Tars it is required."""
    cluster = config.cluster
    if cluster is None or cluster.name:
        return config
    if config.tars is None:
        raise ConfigError(f"{config.path}: cluster.name: expected a name (the key prefix "
                          "shared by every node of the cluster); only under Tars does it "
                          "default to App.Server")
    import dataclasses

    return dataclasses.replace(config, cluster=cluster.named(f"{config.tars.app}."
                                                             f"{config.tars.server}"))
