"""The config as frozen dataclasses: the one place where every default is written.

Each section field carries its default and the check its YAML value goes through
(`setting`), or names the section nested under it (`subsection`); the loader reads
both from here, so a default can never differ between the file and the code.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any

from supervisor.config import cluster
from supervisor.config import values as v

DEFAULT_PATH = "conf/supervisor.yaml"
START_METHODS = ("forkserver", "spawn", "fork")
MAX_WORKERS = 1024
"""The largest pool: from the YAML, a Tars conf's threads, or `scale`."""


def setting(default: Any = MISSING, convert: v.Convert = v.string) -> Any:
    """A field read from YAML: `convert` checks a given value; `default` fills a missing one."""
    return field(default=default, metadata={"convert": convert})


def subsection(section: type) -> Any:
    """A field holding the nested section `section` (its defaults when the key is missing)."""
    return field(default_factory=section, metadata={"section": section})


@dataclass(frozen=True)
class LogConfig:
    level: str = setting("info", v.choice("debug", "info", "warning", "error"))
    format: str = setting("text", v.choice("text", "json"))
    file: str | None = setting(None, v.optional(v.string))


@dataclass(frozen=True)
class LimitsConfig:
    """What one peer may make the master hold: frame sizes and messages per connection."""

    message_size: int = setting(16 * 2**20, v.size_bytes(minimum=4096))
    client_hwm: int = setting(1000, v.integer(minimum=1))


@dataclass(frozen=True)
class ServerConfig:
    chdir: str | None = setting(None, v.optional(v.string))
    run_dir: str = setting("./run", v.string)
    listen: str | None = setting(None, v.optional(v.endpoint))
    log: LogConfig = subsection(LogConfig)
    allow: list[str] | None = setting(None, v.optional(v.peers))
    limits: LimitsConfig = subsection(LimitsConfig)


@dataclass(frozen=True)
class Policy:
    """RoadRunner's `pool.supervisor` limits; zero means off."""

    watch_tick: float = setting(1.0, v.duration(positive=True))
    ttl: float = setting(0.0, v.duration())
    idle_ttl: float = setting(0.0, v.duration())
    max_worker_memory: float = setting(0.0, v.parse_size_mb)
    exec_ttl: float = setting(0.0, v.duration())
    stuck_after: float = setting(60.0, v.duration())
    """A worker busy longer shows as `stuck` (status, workers, metrics); 0: never."""


@dataclass(frozen=True)
class PoolConfig:
    num_workers: int = setting(2, v.integer(0, MAX_WORKERS))
    max_jobs: int = setting(0, v.integer())
    max_queue_size: int = setting(10000, v.integer())
    max_queue_memory: int = setting(64 * 2**20, v.size_bytes())
    pipeline: int = setting(8, v.integer(minimum=1))
    prefetch_below: float = setting(0.005, v.duration(positive=True))
    allocate_timeout: float = setting(60.0, v.duration(positive=True))
    destroy_timeout: float = setting(60.0, v.duration(positive=True))
    start_timeout: float = setting(60.0, v.duration(positive=True))
    start_method: str = setting("forkserver", v.choice(*START_METHODS))
    supervisor: Policy = subsection(Policy)


@dataclass(frozen=True)
class ScheduleConfig:
    """One schedule. `dst: shift` by default: a daily job still runs on the day its time of
    day falls in the spring-forward gap (as in Vixie cron); `catch_up: latest` by default: a
    slot missed while the master was down still runs once after the restart."""

    name: str = setting()
    handler: str = setting()
    every: float | None = setting(None, v.optional(v.duration(positive=True)))
    cron: str | None = setting(None, v.optional(v.string))
    overlap: str = setting("skip", v.choice("skip", "allow"))
    tz: str | None = setting(None, v.optional(v.time_zone))
    dst: str = setting("shift", v.choice("shift", "skip"))
    catch_up: str = setting("latest", v.choice("latest", "none"))
    singleton: bool = setting(False, v.boolean)  # one node of a cluster fires each slot
    anchor: float | None = setting(None, v.optional(cluster.anchor))  # singleton slot grid


@dataclass(frozen=True)
class TickerConfig:
    """The RoadRunner-style `ticker:` shorthand for one `every` schedule named `ticker`."""

    interval: float = setting(1.0, v.duration(positive=True))
    handler: str = setting("tick", v.string)
    catch_up: str = setting("latest", v.choice("latest", "none"))
    singleton: bool = setting(False, v.boolean)


@dataclass(frozen=True)
class KeepaliveConfig:
    enabled: bool | None = setting(None, v.optional(v.boolean))
    interval: float = setting(30.0, v.duration(positive=True))


@dataclass(frozen=True)
class TarsSection:
    config: str | None = setting(None, v.optional(v.string))


@dataclass(frozen=True)
class MetricsSection:
    address: str | None = setting(None, v.optional(v.host_port))


@dataclass(frozen=True)
class Config:
    """The whole checked config. `tars` is the parsed Tars conf once the CLI overlaid it;
    `centrifugo` the section as read until the CLI checks it (`supervisor.centrifugo.settings`).

    Relative paths are already resolved against `base_dir` (`server.chdir`, itself relative to
    the config file's directory, which is the default); handler modules import from
    `import_path`: `base_dir`, then the directory the command was started in.
    """

    path: str
    run_dir: Path
    listen: str
    log: LogConfig
    pool: PoolConfig
    handlers: dict[str, str]
    interceptors: dict[str, list[str]]
    schedules: list[ScheduleConfig]
    keepalive_enabled: bool | None
    keepalive_interval: float
    tars_config: str | None
    metrics_address: str | None
    allow: list[str]
    tars: Any = None
    cluster: cluster.ClusterConfig | None = None
    base_dir: Path = Path(".")
    import_path: tuple[str, ...] = ()
    centrifugo: Any = None
    limits: LimitsConfig = field(default_factory=LimitsConfig)

    @property
    def worker_endpoint(self) -> str:
        return f"ipc://{self.run_dir}/workers.sock"

    @property
    def log_endpoint(self) -> str:
        return f"ipc://{self.run_dir}/logs.sock"

    @property
    def control_endpoint(self) -> str:
        return f"ipc://{self.run_dir}/control.sock"
