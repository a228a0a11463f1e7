"""The master's side of scheduling: runs the scheduler process and turns ticks into requests.

Ticks are never queued behind busy workers: a tick that finds no free worker
(an idle one, or one running fast requests with room to hold the tick, see
`Pool.place_tick`), or whose previous run is still going under `overlap: skip`,
is counted as skipped with that reason, so a slow handler never delays the next
dispatch.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq

from supervisor import wire
from supervisor.config import Config, ScheduleConfig
from supervisor.lifecycle.helper import Helper
from supervisor.lifecycle.service import Handler
from supervisor.pool.allocator import Pool, Request
from supervisor.scheduling.permits import singleton_start
from supervisor.scheduling.scheduler import run_scheduler
from supervisor.triggers.timeline import Tick, TickStats

log = logging.getLogger("supervisor.ticker")

# Schedules are anchored this far ahead, so tick 0 is not late while the scheduler starts.
_START_LEAD = 0.1


@dataclass(frozen=True, slots=True)
class TickJob:
    """The origin of a request made from a tick: its outcome goes to the tick accounting."""

    schedule: str
    tick: int
    ticker: Ticker

    def answered(self, request: Request, ok: bool, body: bytes, now: float) -> None:
        self.ticker.finished(self, ok, "the handler raised")

    def failed(self, request: Request, code: str, message: str) -> None:
        self.ticker.finished(self, False, f"{code}: {message}")


class Ticker:
    """The scheduling service: the scheduler process, its tick socket, the tick accounting."""

    name = "scheduler"

    def __init__(self, config: Config, pool: Pool, context: zmq.Context, poller: zmq.Poller,
                 dispatch: Callable[[bytes, Request], None],
                 record: Callable[[str, str, int], None]) -> None:
        """Bind the tick socket; the scheduler starts with `start()` once the pool is ready."""
        self.config = config
        self.pool = pool
        self.dispatch = dispatch
        self.record = record
        self.schedules = {s.name: s for s in config.schedules}
        self.stats: dict[str, TickStats] = {}
        self.running: Counter[str] = Counter()
        self.socket = context.socket(zmq.ROUTER)
        self.socket.linger = 0
        self.socket.maxmsgsize = wire.MAX_CONTEXT  # a tick is a few hundred bytes
        self.socket.bind(f"ipc://{config.run_dir}/ticks.sock")
        self.specs: list[dict] = []
        self.scheduler = Helper("scheduler", config.pool.start_method, run_scheduler,
                                self._scheduler_args, poller)

    # --- the service seam (supervisor.lifecycle.service) ---

    def sockets(self) -> dict[zmq.Socket, Handler]:
        return {self.socket: self.on_message}

    def pool_ready(self, now: float) -> None:
        self.start()

    def after_poll(self, events: dict[Any, int], now: float) -> None:
        self.scheduler.after_poll(events, now)

    def next_deadline(self) -> float | None:
        return self.scheduler.restart_at

    def stop(self) -> None:
        self.scheduler.stop()

    def draining(self) -> bool:
        return self.scheduler.running

    def close(self) -> None:
        self.scheduler.close()

    def start(self) -> None:
        """Anchor every schedule just ahead of now and start the scheduler process."""
        anchor = time.time() + _START_LEAD
        for schedule in self.schedules.values():
            spec = {"name": schedule.name, "every": schedule.every, "cron": schedule.cron,
                    "anchor": anchor}
            if schedule.singleton:
                spec = _singleton_spec(spec, schedule)
            self.specs.append(spec)
            self.stats[schedule.name] = TickStats.for_schedule(spec, self._singleton(spec))
        log.info("scheduler starting: %s", "; ".join(
            f"{s.name} {f'every {s.every:g}s' if s.every else f'cron {s.cron!r}'} -> {s.handler}"
            for s in self.schedules.values()))
        self.scheduler.start(time.monotonic())

    def reconfigure(self, config: Config) -> None:
        """Follow a reloaded config: unchanged schedules go on counting where they were, new
        ones start from now, removed ones stop; the scheduler process is replaced."""
        schedules = {s.name: s for s in config.schedules}
        self.config = config
        if schedules == self.schedules:
            return
        kept = {name for name, s in schedules.items() if self.schedules.get(name) == s}
        self.schedules = schedules
        if not self.specs:
            return  # not started yet: `start` reads the new schedules
        anchor = time.time() + _START_LEAD
        self.specs = [spec for spec in self.specs if spec["name"] in kept]
        for name, schedule in schedules.items():
            if name not in kept:
                spec = {"name": name, "every": schedule.every, "cron": schedule.cron,
                        "anchor": anchor}
                if schedule.singleton:
                    spec = _singleton_spec(spec, schedule)
                self.specs.append(spec)
                self.stats[name] = TickStats.for_schedule(spec, self._singleton(spec))
        log.info("schedules reloaded: %s", ", ".join(sorted(schedules)) or "none")
        self.scheduler.replace()

    def _scheduler_args(self) -> tuple:
        """A restarted scheduler resumes each schedule's numbering where it stopped."""
        resume = {name: stats.resume_state() for name, stats in self.stats.items()}
        for spec in self.specs:
            if spec.get("singleton"):
                resume[spec["name"]] = self._singleton(spec)
        cluster = self.config.cluster
        permits = None if cluster is None else {
            "endpoint": f"ipc://{self.config.run_dir}/cluster.sock", "ahead": cluster.claim_ahead}
        return (f"ipc://{self.config.run_dir}/ticks.sock", self.specs, resume,
                (self.config.log_endpoint, self.config.log.level), permits)

    @staticmethod
    def _singleton(spec: dict) -> dict | None:
        """Singleton slots lie on a fixed grid: (re)start at the next one, not from our past."""
        return singleton_start(spec, time.time() + _START_LEAD) if spec.get("singleton") \
            else None

    # --- ticks ---

    def on_message(self, frames: list[bytes]) -> None:
        if self.scheduler.stopped:
            return
        if len(frames) != 3 or frames[1] != b"tick":
            log.warning("unexpected message from the scheduler: %r", frames[1:2])
            return
        try:
            tick = Tick.from_wire(wire.load_json(frames[2]))
            stats = self.stats[tick.schedule]
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("dropped a malformed tick: %s", exc)
            return
        schedule = self.schedules.get(tick.schedule)
        if schedule is None:  # from a scheduler replaced by a reload, for a removed schedule
            return
        stats.received(tick)
        if tick.missed:
            self.record(tick.schedule, "late", tick.missed)
        if schedule.overlap == "skip" and self.running[tick.schedule]:
            self._skip(tick.schedule, "overlap")
        else:
            body = json.dumps({"tick": tick.tick}).encode()
            fields = {"lastTick": tick.last_tick, "schedule": tick.schedule,
                      "scheduledAt": tick.scheduled_at}
            if tick.cluster is not None:
                fields["cluster"] = tick.cluster
            context = json.dumps(fields).encode()
            now = time.monotonic()
            request = Request(TickJob(tick.schedule, tick.tick, self), schedule.handler.encode(),
                              body, context, now)
            worker = self.pool.place_tick(request, now)
            if worker is None:
                self._skip(tick.schedule, "no_free_worker")
                return
            self.running[tick.schedule] += 1
            self.dispatch(worker.ident, request)

    def _skip(self, schedule: str, reason: str) -> None:
        self.stats[schedule].skip(reason)
        self.record(schedule, reason, 1)

    def finished(self, job: TickJob, ok: bool, detail: str = "") -> None:
        """A tick's request ended: delivered, or failed (handler error, worker lost...)."""
        self.running[job.schedule] -= 1
        stats = self.stats[job.schedule]
        if ok:
            stats.deliver()
            self.record(job.schedule, "delivered", 1)
        else:
            stats.fail()
            self.record(job.schedule, "failed", 1)
            log.warning("tick %d of schedule %r failed: %s", job.tick, job.schedule, detail)

    def snapshot(self) -> dict[str, dict]:
        return {name: {**stats.as_dict(), "running": self.running[name]}
                for name, stats in self.stats.items() if name in self.schedules}


def _singleton_spec(spec: dict, schedule: ScheduleConfig) -> dict:
    """A singleton `every` schedule on the cluster's shared grid: the fixed anchor, not now."""
    return {**spec, "singleton": True, "anchor": schedule.anchor or 0.0}
