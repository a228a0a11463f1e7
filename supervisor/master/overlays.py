"""The config as the master runs it: the YAML, then the overlays of the integrations.

The loader stays pure and knows no integration; each overlay checks its own section and
adds what it needs (the Tars conf its settings, the Centrifugo section its event handlers).
"""

from __future__ import annotations

import os

from supervisor.config import Config
from supervisor.tars import settings as tars_settings


def load(path: str | os.PathLike | None, tars_config: str | None = None) -> Config:
    config = tars_settings.load(path, tars_config)
    if config.centrifugo is None:
        return config
    from supervisor.centrifugo.settings import apply

    return apply(config)
