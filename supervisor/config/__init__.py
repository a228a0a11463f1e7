"""The config: frozen dataclasses (`model`), YAML reading (`loader`), value checks (`values`).

Pure: reading a config never starts, binds or applies anything (the Tars conf overlay is
`supervisor.tars.settings`, applied by the command line). May import `errors` and the pure
`triggers` (to check cron expressions).
"""

from supervisor.config.loader import expand_env, load, section
from supervisor.config.model import (
    DEFAULT_PATH,
    START_METHODS,
    Config,
    LogConfig,
    Policy,
    PoolConfig,
    ScheduleConfig,
)

__all__ = ["DEFAULT_PATH", "START_METHODS", "Config", "LogConfig", "Policy", "PoolConfig",
           "ScheduleConfig", "expand_env", "load", "section"]
