"""The schedule commands of the control socket: list, run now, pause and resume.

`tick NAME` runs through the same path as a scheduled tick (overlap policy, a free
worker, the accounting), reported as `manual`; `pause` and `resume` are kept in
run_dir, so a pause outlives a reset, a scheduler restart and a master restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from supervisor.errors import BadRequest, NotRunning, SupervisorError
from supervisor.scheduling import state
from supervisor.scheduling.dispatcher import Ticker
from supervisor.triggers.accounting import verdict

log = logging.getLogger("supervisor.ticker")


class TickRefused(SupervisorError):
    """A manual tick that the schedule's policy does not allow now."""

    code = "TickRefused"


class ScheduleCommands:
    """Control commands over one Ticker."""

    def __init__(self, ticker: Ticker) -> None:
        self.ticker = ticker

    def commands(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {"schedules": self.list, "tick": self.tick, "pause": self.pause,
                "resume": self.resume}

    def _name(self, args: dict[str, Any]) -> str:
        name = args.get("name")
        if not isinstance(name, str) or name not in self.ticker.schedules:
            known = ", ".join(self.ticker.schedules) or "none"
            raise BadRequest(f"unknown schedule {name!r} (schedules: {known})")
        return name

    def list(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"schedules": self.ticker.snapshot(), "now": time.time()}

    def tick(self, args: dict[str, Any]) -> dict[str, Any]:
        """Run the schedule's handler now, if its overlap policy and the pool allow it."""
        name, ticker = self._name(args), self.ticker
        if ticker.scheduler.stopped:
            raise NotRunning("the master is stopping")
        stats = ticker.stats.get(name)
        if stats is None:
            raise TickRefused(f"schedule {name!r} has not started: the pool is not ready yet")
        schedule = ticker.schedules[name]
        reason = verdict(None, time.monotonic(), paused=False, overlap=schedule.overlap,
                         running=ticker.running[name], idle=True)
        worker = None
        if reason is None:
            worker = ticker.run(schedule, None, time.time(), stats.last_tick, manual=True)
            reason = "no_free_worker" if worker is None else None
        if reason is not None:
            stats.refuse(reason)
            ticker.record(name, "manual_refused", 1)
            if reason == "overlap":
                raise TickRefused(f"schedule {name!r} has a tick still running and its overlap "
                                  "policy is skip: not fired")
            raise TickRefused(f"no worker is free to run schedule {name!r} now: not fired")
        log.info("schedule %r: manual tick sent to worker %d", name, worker)
        return {"schedule": name, "fired": True, "worker": worker}

    def pause(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._set_paused(self._name(args), True)

    def resume(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._set_paused(self._name(args), False)

    def _set_paused(self, name: str, paused: bool) -> dict[str, Any]:
        ticker = self.ticker
        changed = (name in ticker.paused) != paused
        if paused:
            ticker.paused.add(name)
        else:
            ticker.paused.discard(name)
        saved = True
        if changed:
            try:
                state.save_paused(ticker.paused_path, ticker.paused)
            except OSError as exc:
                saved = False
                log.warning("%s: cannot save the paused schedules (%s); the change holds until "
                            "the master restarts", ticker.paused_path, exc.strerror or exc)
            log.info("schedule %r %s", name, "paused: its ticks are counted as paused"
                     if paused else "resumed: it runs from its next slot")
        return {"schedule": name, "paused": paused, "changed": changed, "saved": saved}
