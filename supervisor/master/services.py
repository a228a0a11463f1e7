"""Services of the optional integrations, each present only when the config has its section.

Built by the master before any child starts (a service may refuse the start with a
`StartupError`); each registers its control command and its `supervisor status` section.
"""

from __future__ import annotations

import zmq

from supervisor.config import Config
from supervisor.lifecycle.service import Service
from supervisor.ops.operations import Operations


def integrations(config: Config, poller: zmq.Poller, ops: Operations) -> list[Service]:
    services: list[Service] = []
    if config.centrifugo is not None:
        from supervisor.centrifugo.supervise import COMMAND, ProxyService

        proxy = ProxyService(config, poller, ops.metrics.centrifugo)
        ops.add_command(COMMAND, proxy.command)
        ops.add_status("centrifugo", proxy.status)
        services.append(proxy)
    return services
