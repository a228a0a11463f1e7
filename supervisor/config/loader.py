"""Reading the YAML config: `${VAR}` expansion, strict keys, checked values, one-line errors.

Every problem becomes a `ConfigError` whose message is one line naming the file,
the key path and what was expected, so an operator can fix it without reading code.
Defaults and value checks come from `supervisor.config.model`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml

from supervisor.config import values as v
from supervisor.config.cluster import ClusterConfig, parse_cluster
from supervisor.config.model import (
    DEFAULT_PATH,
    Config,
    KeepaliveConfig,
    MetricsSection,
    PoolConfig,
    ScheduleConfig,
    ServerConfig,
    TarsSection,
    TickerConfig,
)
from supervisor.errors import ConfigError
from supervisor.triggers.cron import parse_cron

Section = TypeVar("Section")


class _Invalid(ConfigError):
    """A value that cannot be used; `key` is its path (e.g. `pool.num_workers`)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _key(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def section(data: Any, path: str, model: type[Section]) -> Section:
    """Check one mapping against its dataclass: no unknown keys, every given value converted."""
    try:
        data = v.mapping(data)
    except ValueError as exc:
        raise _Invalid(path or "(top level)", str(exc)) from None
    fields = dataclasses.fields(model)
    names = [f.name for f in fields]
    for key in data:
        if key not in names:
            raise _Invalid(_key(path, str(key)),
                           f"unknown key (expected one of: {', '.join(names)})")
    out = {}
    for f in fields:
        if "section" in f.metadata:
            out[f.name] = section(data.get(f.name), _key(path, f.name), f.metadata["section"])
        elif f.name in data or f.default is dataclasses.MISSING:
            try:
                out[f.name] = f.metadata["convert"](data.get(f.name))
            except ValueError as exc:
                raise _Invalid(_key(path, f.name), str(exc)) from None
    return model(**out)


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

_TOP = ("server", "pool", "handlers", "interceptors", "ticker", "schedules", "keepalive",
        "tars", "metrics", "cluster", "centrifugo")


def _top(raw: Any) -> dict[str, Any]:
    try:
        data = v.mapping(raw)
    except ValueError as exc:
        raise _Invalid("(top level)", str(exc)) from None
    for key in data:
        if key not in _TOP:
            raise _Invalid(str(key), f"unknown key (expected one of: {', '.join(_TOP)})")
    return data


def _schedules(top: dict[str, Any], handlers: dict[str, str]) -> list[ScheduleConfig]:
    items = []
    if top.get("ticker") is not None:
        ticker = section(top["ticker"], "ticker", TickerConfig)
        items.append(("ticker", ScheduleConfig(name="ticker", handler=ticker.handler,
                                               every=ticker.interval,
                                               catch_up=ticker.catch_up,
                                               singleton=ticker.singleton)))
    raw_schedules = top.get("schedules") or []
    if not isinstance(raw_schedules, list):
        raise _Invalid("schedules", f"expected a list, got {type(raw_schedules).__name__}")
    for index, raw in enumerate(raw_schedules):
        path = f"schedules[{index}]"
        entry = section(raw, path, ScheduleConfig)
        if (entry.every is None) == (entry.cron is None):
            raise _Invalid(path, "expected exactly one of 'every' or 'cron'")
        if entry.cron is not None:
            try:
                parse_cron(entry.cron, entry.tz, entry.dst)
            except ValueError as exc:
                raise _Invalid(f"{path}.cron", str(exc)) from None
        for key in ("tz", "dst"):
            if entry.every is not None and key in raw:
                raise _Invalid(f"{path}.{key}", "applies to cron schedules only (an 'every' "
                                                "schedule runs on elapsed time)")
        if entry.singleton and entry.cron is not None:
            raise _Invalid(f"{path}.singleton", "singleton schedules need 'every' (cron "
                           "singletons are not supported yet)")
        if entry.anchor is not None and not entry.singleton:
            raise _Invalid(f"{path}.anchor", "only a singleton schedule takes an anchor")
        items.append((path, entry))
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


def _handlers(top: dict[str, Any]) -> dict[str, str]:
    handlers = {}
    for name, target in _mapping_at(top, "handlers").items():
        try:
            handlers[str(name)] = v.handler_path(target)
        except ValueError as exc:
            raise _Invalid(f"handlers.{name}", str(exc)) from None
    return handlers


def _interceptors(top: dict[str, Any], handlers: dict[str, str]) -> dict[str, list[str]]:
    interceptors = {}
    for name, chain in _mapping_at(top, "interceptors").items():
        key = f"interceptors.{name}"
        if name != "*" and name not in handlers:
            raise _Invalid(key, f"expected '*' or a handler name, got {name!r}")
        if not isinstance(chain, list):
            raise _Invalid(key, "expected a list of 'module:function'")
        try:
            interceptors[str(name)] = [v.handler_path(item) for item in chain]
        except ValueError as exc:
            raise _Invalid(key, str(exc)) from None
    return interceptors


def _mapping_at(top: dict[str, Any], key: str) -> dict:
    try:
        return v.mapping(top.get(key))
    except ValueError as exc:
        raise _Invalid(key, str(exc)) from None


def _cluster(top: dict[str, Any], schedules: list[ScheduleConfig],
             run_dir: Path) -> ClusterConfig | None:
    """The `cluster:` section; `singleton: true` anywhere needs one."""
    if top.get("cluster") is None:
        lonely = [s.name for s in schedules if s.singleton]
        if lonely:
            raise _Invalid("cluster", f"schedule {lonely[0]!r} is singleton: expected a "
                           "cluster section with a backend (redis://... or etcd://...)")
        return None
    try:
        return parse_cluster(top["cluster"], str(run_dir))
    except ConfigError as exc:
        key, _, message = str(exc).partition(": ")
        raise _Invalid(key, message) from None
def _resolve(base: Path, value: str) -> str:
    """`value` as an absolute path: relative ones are taken from `base`."""
    return os.path.normpath(base / os.path.expanduser(value))


def _listen(base: Path, listen: str | None, run_dir: Path) -> str:
    if listen is None:
        return f"ipc://{run_dir}/exec.sock"
    if listen.startswith("ipc://"):
        return "ipc://" + _resolve(base, listen[len("ipc://"):])
    return listen


def _build(raw: Any, path: str) -> Config:
    top = _top(raw)
    server = section(top.get("server"), "server", ServerConfig)
    here = Path(os.path.abspath(os.path.dirname(path)))
    base = Path(_resolve(here, server.chdir)) if server.chdir else here
    if not base.is_dir():
        raise _Invalid("server.chdir", f"expected a directory, {base} is not one")
    pool = section(top.get("pool"), "pool", PoolConfig)
    if pool.num_workers == 0:
        pool = dataclasses.replace(pool, num_workers=os.cpu_count() or 1)
    handlers = _handlers(top)
    keepalive = section(top.get("keepalive"), "keepalive", KeepaliveConfig)
    tars = section(top.get("tars"), "tars", TarsSection)
    metrics = section(top.get("metrics"), "metrics", MetricsSection)
    schedules = _schedules(top, handlers)
    run_dir = Path(_resolve(base, server.run_dir))
    log = server.log
    if log.file:
        log = dataclasses.replace(log, file=_resolve(base, log.file))
    return Config(
        path=path,
        run_dir=run_dir,
        listen=_listen(base, server.listen, run_dir),
        log=log,
        pool=pool,
        handlers=handlers,
        interceptors=_interceptors(top, handlers),
        schedules=schedules,
        keepalive_enabled=keepalive.enabled,
        keepalive_interval=keepalive.interval,
        tars_config=tars.config and _resolve(base, tars.config),
        metrics_address=metrics.address,
        allow=server.allow or [],
        cluster=_cluster(top, schedules, run_dir),
        base_dir=base,
        import_path=tuple(dict.fromkeys((str(base), os.getcwd()))),
        centrifugo=top.get("centrifugo"),
        limits=server.limits,
    )


def load(path: str | os.PathLike | None = None,
         environ: dict[str, str] | None = None) -> Config:
    """Read, expand and check a config file; the Tars conf it names is applied by the caller.

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
        return _build(_expand_tree(raw, "", environ), path)
    except _Invalid as exc:
        raise ConfigError(f"{path}: {exc.key}: {exc}") from None
