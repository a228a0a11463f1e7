"""The services beside the pool that a config asks for, wired into the master loop.

The run_dir watch (always), the scheduler's ticker (when there are schedules), the Tars
keepalive (with a Tars conf and keepalive on), the Centrifugo proxy (with a `centrifugo`
section; it may refuse the start with a `StartupError`), the cluster coordinator (with a
`cluster` section) and the reloader (always). Each may add control commands and status
sections through the operations layer; the loop then knows them only as `Service`s.
"""

from __future__ import annotations

from typing import Any, Protocol

import zmq

from supervisor.config import Config
from supervisor.lifecycle.service import Service
from supervisor.master.reload import Reloader
from supervisor.master.watch import RunDirWatch
from supervisor.ops.operations import Operations
from supervisor.pool.allocator import Pool, Request
from supervisor.pool.states import UP
from supervisor.scheduling.controls import ScheduleCommands
from supervisor.scheduling.dispatcher import Ticker
from supervisor.tars.liveness import Liveness


class Master(Protocol):
    """What wiring a service needs of the master (`supervisor.master.loop.Master`)."""

    config: Config
    context: zmq.Context
    poller: zmq.Poller
    pool: Pool
    ops: Operations
    services: list[Service]
    service_sockets: dict[zmq.Socket, Any]
    stopping: bool
    reloader: Reloader
    exit_code: int

    def _dispatch(self, ident: bytes, request: Request) -> None: ...

    def stop(self, graceful: bool) -> None: ...


def add_all(master: Master) -> None:
    config = master.config
    add(master, RunDirWatch(config.run_dir, master.poller, master))
    if config.schedules:
        add_ticker(master)
    if config.keepalive_enabled and config.tars:
        def alive() -> int:
            """Workers serving, as the keepalive probe reports them: none while stopping."""
            return 0 if master.stopping else master.pool.count(*UP)

        liveness = Liveness(config, master.poller, alive, master.ops.metrics.keepalive)
        master.ops.add_command("keepalive", liveness.command)
        master.ops.add_status("keepalive", liveness.status)
        add(master, liveness)
    if config.centrifugo is not None:
        add_centrifugo(master)
    if config.cluster is not None:  # the cluster package is imported only then
        add(master, master.ops.cluster_service(master.poller))
    master.reloader = Reloader(master, lambda: add_ticker(master))
    master.ops.add_command("reload", master.reloader.command)
    add(master, master.reloader)


def add_ticker(master: Master) -> Ticker:
    """The scheduling service; also when a reload brings the first schedules."""
    ticker = Ticker(master.config, master.pool, master.context, master.poller,
                    master._dispatch, master.ops.metrics.tick)
    master.ops.add_status("schedules", ticker.snapshot)
    for name, command in ScheduleCommands(ticker).commands().items():
        master.ops.add_command(name, command)
    add(master, ticker)
    return ticker


def add_centrifugo(master: Master) -> None:
    """The Centrifugo proxy helper (gRPC is imported by its process only)."""
    from supervisor.centrifugo.supervise import COMMAND, ProxyService

    proxy = ProxyService(master.config, master.poller, master.ops.metrics.centrifugo)
    master.ops.add_command(COMMAND, proxy.command)
    master.ops.add_status("centrifugo", proxy.status)
    add(master, proxy)


def add(master: Master, service: Service) -> None:
    master.services.append(service)
    for sock, handle in service.sockets().items():
        master.service_sockets[sock] = handle
        master.poller.register(sock, zmq.POLLIN)
