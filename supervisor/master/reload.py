"""`supervisor reload` and SIGHUP: re-read the config and apply it without failing a request.

1. Read and check the YAML (with the same Tars conf) in the loop: a bad file, or a change
   to a key that takes a restart (`supervisor.config.changes`), is refused in one line to
   the caller and the log, and the old config stays.
2. Import the new handlers in a probe process (`supervisor.worker.probe`), bounded by
   pool.start_timeout, while the loop goes on serving; a failure is refused the same way.
3. Apply: limits and log level at once, then the reset that replaces every worker (each new
   worker takes over before its predecessor leaves), resizing the pool if num_workers
   changed. New handler names and schedules follow once every slot has a new worker, so no
   request for a new handler reaches an old worker.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import zmq

from supervisor.config import Config
from supervisor.config import changes as config_changes
from supervisor.config.values import counted
from supervisor.errors import ConfigError
from supervisor.lifecycle.service import Service
from supervisor.lifecycle.slots import Workers
from supervisor.lifecycle.spawn import exit_text, start_child
from supervisor.master import overlays
from supervisor.master.clients import Clients
from supervisor.master.logs import Logs
from supervisor.ops.control import Later
from supervisor.ops.operations import Operations
from supervisor.pool.allocator import Pool
from supervisor.worker.probe import FAILED, probe


class Master(Protocol):
    """What the reloader changes in the master (`supervisor.master.loop.Master`)."""

    config: Config
    poller: zmq.Poller
    pool: Pool
    workers: Workers
    clients: Clients
    logs: Logs
    ops: Operations
    services: list[Service]
    stopping: bool

    def apply_limits(self) -> None: ...

    def reset(self) -> None: ...

    def scale(self, delta: int) -> None: ...

log = logging.getLogger("supervisor.reload")


@dataclass
class _Check:
    config: Config
    changed: list[str]
    process: Any
    deadline: float
    result: str
    callers: list[Later] = field(default_factory=list)


class Reloader:
    """A service of the master loop (see `supervisor.lifecycle.service`)."""

    name = "reload"

    def __init__(self, master: Master, add_ticker: Callable[[], Service]) -> None:
        """`add_ticker()` starts the scheduling service when a reload brings the first
        schedules."""
        self.master = master
        self.add_ticker = add_ticker
        self.check: _Check | None = None
        self.follow: Config | None = None  # applied once the reset is done

    # --- the verbs ---

    def command(self, args: dict[str, Any]) -> Later:
        """The control command `reload`: answered once the config is applied or refused."""
        reply = Later()
        self.begin(reply)
        return reply

    def begin(self, caller: Later | None = None) -> None:
        master = self.master
        if master.stopping:
            return self._refuse(caller, "the master is stopping", code="NotRunning")
        if self.check is not None:
            if caller is not None:
                self.check.callers.append(caller)
            return None
        old = master.config
        try:
            new = config_changes.carry_over(old, overlays.load(old.path, old.tars_config))
        except ConfigError as exc:
            return self._refuse(caller, str(exc))
        why = config_changes.refused(old, new)
        if why is not None:
            return self._refuse(caller, f"{old.path}: {why}")
        result = str(old.run_dir / "reload-check.json")
        with contextlib.suppress(OSError):
            os.unlink(result)
        process = start_child(new.pool.start_method, probe, new.handlers, new.interceptors,
                              str(new.base_dir), new.import_path, result, name="reload-check")
        master.poller.register(process.sentinel, zmq.POLLIN)
        self.check = _Check(new, config_changes.changed(old, new), process,
                            time.monotonic() + new.pool.start_timeout, result,
                            [caller] if caller else [])
        return None

    def _refuse(self, caller: Later | None, message: str, code: str = "ConfigError") -> None:
        log.error("reload refused, keeping the running config: %s", message)
        if caller is not None:
            caller.fail(code, message)

    # --- the probe's outcome ---

    def _checked(self, now: float) -> None:
        check, self.check = self.check, None
        process = check.process
        if process.exitcode is None:
            process.kill()
        process.join(1.0)
        self.master.poller.unregister(process.sentinel)
        code = process.exitcode
        process.close()
        if self.master.stopping:
            return None
        if code == 0:
            return self._apply(check)
        failure, trace = _failure(check, code)
        if trace:
            log.error("%s", trace)
        for caller in check.callers or [None]:
            self._refuse(caller, failure)
        return None

    def _apply(self, check: _Check) -> None:
        master, new = self.master, check.config
        master.config = master.workers.config = new
        master.pool.max_queue_size = new.pool.max_queue_size
        master.pool.allocate_timeout = new.pool.allocate_timeout
        master.apply_limits()
        master.logs.config = new.log
        master.logs.reopen()
        master.clients.handler_names &= {name.encode() for name in new.handlers}
        delta = new.pool.num_workers - master.workers.size if \
            "pool.num_workers" in check.changed else 0
        if delta < 0:
            master.scale(delta)
        master.reset()
        if delta > 0:
            master.scale(delta)
        self.follow = new
        replacing = master.workers.size
        log.info("reload: %s: changed %s; replacing %s", new.path,
                 ", ".join(check.changed) or "nothing (handler code is reloaded)",
                 counted(replacing, "worker"))
        for caller in check.callers:
            caller.done({"config": new.path, "changed": check.changed, "replacing": replacing})

    def _follow(self) -> None:
        """Every slot has a new worker: new handler names and schedules go live."""
        master, new, self.follow = self.master, self.follow, None
        master.clients.handler_names = {name.encode() for name in new.handlers}
        ticker = next((s for s in master.services if s.name == "scheduler"), None)
        if ticker is not None:
            ticker.reconfigure(new)
        elif new.schedules:
            self.add_ticker().pool_ready(time.monotonic())

    # --- the service seam ---

    def sockets(self) -> dict:
        return {}

    def pool_ready(self, now: float) -> None:
        pass

    def after_poll(self, events: dict[Any, int], now: float) -> None:
        if self.check is not None and (self.check.process.sentinel in events or
                                       now >= self.check.deadline):
            self._checked(now)
        if self.follow is not None and self.master.ops.reload_at is None and \
                not self.master.stopping:
            self._follow()

    def next_deadline(self) -> float | None:
        if self.follow is not None and self.master.ops.reload_at is None:
            return 0.0  # the reset finished during the last turn: follow up right away
        return None if self.check is None else self.check.deadline

    def stop(self) -> None:
        if self.check is not None:
            self.check.process.kill()
            for caller in self.check.callers:
                caller.fail("NotRunning", "the master is stopping")
            self.check.callers.clear()

    def draining(self) -> bool:
        return self.check is not None

    def close(self) -> None:
        if self.check is not None:
            self.check.process.kill()
            self.check.process.join(1.0)
            self.check = None


def _failure(check: _Check, code: int | None) -> tuple[str, str]:
    """The one-line reason a probe failed, and the traceback to log with it."""
    path = check.config.path
    if code == FAILED:
        try:
            with open(check.result, encoding="utf-8") as stream:
                info = json.load(stream)
            return f"{path}: {info['key']}: {info['error']}", info.get("traceback") or ""
        except (OSError, ValueError, KeyError, TypeError):
            pass
        finally:
            with contextlib.suppress(OSError):
                os.unlink(check.result)
    if code is None or code == -9:
        limit = check.config.pool.start_timeout
        return (f"{path}: handlers: importing them took longer than pool.start_timeout "
                f"{limit:g}s"), ""
    return f"{path}: handlers: the import check {exit_text(code)}", ""
