"""The master's side of scheduling: runs the scheduler process and turns ticks into requests.

Ticks are never queued behind busy workers: a tick that finds no free worker (an idle
one, or one running fast requests with room to hold the tick, see `Pool.place_tick`),
whose previous run is still going under `overlap: skip`, whose schedule is paused, or
whose successor's slot is already due (the master was stalled) is counted as skipped with
that reason (`supervisor.triggers.accounting.verdict`), so a slow handler never delays
the next dispatch and a stall never ends in a burst.
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
from supervisor.scheduling import state
from supervisor.scheduling.notices import SkipNotices
from supervisor.scheduling.permits import singleton_start
from supervisor.scheduling.scheduler import run_scheduler
from supervisor.triggers.accounting import TickStats, verdict
from supervisor.triggers.timeline import Tick

log = logging.getLogger("supervisor.ticker")

# Schedules are anchored this far ahead, so tick 0 is not late while the scheduler starts.
_START_LEAD = 0.1


@dataclass(frozen=True, slots=True)
class TickJob:
    """The origin of a request made from a tick: its outcome goes to the tick accounting."""

    schedule: str
    tick: int | None
    ticker: Ticker
    manual: bool = False

    def answered(self, request: Request, ok: bool, body: bytes, now: float) -> None:
        self.ticker.finished(self, ok, "the handler raised")

    def failed(self, request: Request, code: str, message: str) -> None:
        self.ticker.finished(self, False, f"{code}: {message}")


def schedule_spec(schedule: ScheduleConfig, anchor: float) -> dict[str, Any]:
    """The plain dict the scheduler process and the timeline read. A singleton `every`
    schedule lies on the cluster's shared grid: its fixed anchor, not now."""
    spec = {"name": schedule.name, "every": schedule.every, "cron": schedule.cron,
            "tz": schedule.tz, "dst": schedule.dst, "catch_up": schedule.catch_up,
            "anchor": anchor}
    if schedule.singleton:
        spec.update(singleton=True, anchor=schedule.anchor or 0.0)
    return spec


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
        self.paused: set[str] = set()
        self.notices = SkipNotices(log)
        self.state_path = config.run_dir / state.STATE_FILE
        self.paused_path = config.run_dir / state.PAUSED_FILE
        self.socket = context.socket(zmq.ROUTER)
        self.socket.linger = 0
        self.socket.maxmsgsize = wire.MAX_CONTEXT  # a tick is a few hundred bytes
        wire.bind(self.socket, f"ipc://{config.run_dir}/ticks.sock")
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
        self.notices.flush(now)

    def next_deadline(self) -> float | None:
        due = [d for d in (self.scheduler.next_deadline(), self.notices.next_deadline()) if d]
        return min(due, default=None)

    def stop(self) -> None:
        self.scheduler.stop()

    def draining(self) -> bool:
        return self.scheduler.running

    def close(self) -> None:
        self.scheduler.close()

    def start(self) -> None:
        """Resume each schedule from run_dir's state, or anchor it just ahead of now
        (a singleton on the cluster's grid, at its next slot); then start the scheduler."""
        now = time.time()
        self.specs = [schedule_spec(s, now + _START_LEAD) for s in self.schedules.values()]
        saved = _loaded(lambda: state.load_resume(self.state_path, self.specs), {},
                        "every schedule starts afresh")
        self.paused = _loaded(lambda: state.load_paused(self.paused_path, list(self.schedules)),
                              set(), "no schedule is paused")
        for spec in self.specs:
            resume = self._singleton(spec) or saved.get(spec["name"])
            self.stats[spec["name"]] = TickStats.for_schedule(spec, resume, now)
        for name, resume in saved.items():
            log.info("schedule %r resumes after tick %d (catch_up: %s)", name,
                     resume["next_tick"] - 1, self.schedules[name].catch_up)
        for name in sorted(self.paused):
            log.info("schedule %r stays paused", name)
        log.info("scheduler starting: %s", "; ".join(
            f"{s.name} {_describe(s)} -> {s.handler}" for s in self.schedules.values()))
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
                spec = schedule_spec(schedule, anchor)
                self.specs.append(spec)
                self.stats[name] = TickStats.for_schedule(spec, self._singleton(spec))
        self.paused &= set(schedules)
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
                (self.config.log_endpoint, self.config.log.level), str(self.state_path),
                permits)

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
        except (wire.WireError, ValueError, KeyError, TypeError) as exc:
            log.warning("dropped a malformed tick: %s", exc)
            return
        schedule = self.schedules.get(tick.schedule)
        if schedule is None:  # from a scheduler replaced by a reload, for a removed schedule
            return
        if tick.cluster is None and tick.tick < stats.next_tick:
            log.warning("dropped tick %d of schedule %r: that number was already accounted for",
                        tick.tick, tick.schedule)
            return
        now = time.monotonic()
        paused = tick.schedule in self.paused
        missed_as = "paused" if paused else "late"
        stats.received(tick, missed_as)
        if tick.missed:
            self.record(tick.schedule, missed_as, tick.missed)
            self.notices.note(tick.schedule, missed_as, tick.missed, tick.tick - 1, now)
        reason = verdict(tick, now, paused=paused, overlap=schedule.overlap,
                         running=self.running[tick.schedule], idle=True)
        if reason is None and self.run(schedule, tick.tick, tick.scheduled_at, tick.last_tick,
                                       cluster=tick.cluster) is None:
            reason = "no_free_worker"
        if reason is not None:
            stats.skip(reason)
            self.record(tick.schedule, reason, 1)
            self.notices.note(tick.schedule, reason, 1, tick.tick, now)

    def run(self, schedule: ScheduleConfig, number: int | None, scheduled_at: float,
            last_tick: float | None, manual: bool = False,
            cluster: dict[str, Any] | None = None) -> int | None:
        """Hand one tick to a worker that can take it now; its id, or None when none can
        (`Pool.place_tick`: ticks never wait in the queue)."""
        body: dict[str, Any] = {"tick": number}
        context: dict[str, Any] = {"lastTick": last_tick, "schedule": schedule.name,
                                   "scheduledAt": scheduled_at}
        if manual:
            body["manual"] = context["manual"] = True
        if cluster is not None:
            context["cluster"] = cluster
        now = time.monotonic()
        request = Request(TickJob(schedule.name, number, self, manual), schedule.handler.encode(),
                          json.dumps(body).encode(), json.dumps(context).encode(), now)
        worker = self.pool.place_tick(request, now)
        if worker is None:
            return None
        self.running[schedule.name] += 1
        self.dispatch(worker.ident, request)
        return worker.id

    def finished(self, job: TickJob, ok: bool, detail: str = "") -> None:
        """A tick's request ended: delivered, or failed (handler error, worker lost...)."""
        self.running[job.schedule] -= 1
        stats = self.stats[job.schedule]
        outcome = "delivered" if ok else "failed"
        if ok:
            stats.deliver(job.manual)
        else:
            stats.fail(job.manual)
            what = "the manual tick" if job.manual else f"tick {job.tick}"
            log.warning("%s of schedule %r failed: %s", what, job.schedule, detail)
        self.record(job.schedule, f"manual_{outcome}" if job.manual else outcome, 1)

    def snapshot(self) -> dict[str, dict]:
        """Per schedule: its settings, whether it is paused or running, and its counts."""
        return {name: {**_settings(self.schedules[name]), **stats.as_dict(),
                       "running": self.running[name], "paused": name in self.paused}
                for name, stats in self.stats.items() if name in self.schedules}


def _describe(schedule: ScheduleConfig) -> str:
    if schedule.every is not None:
        return f"every {schedule.every:g}s"
    return f"cron {schedule.cron!r} {schedule.tz or 'local time'}"


def _settings(schedule: ScheduleConfig) -> dict[str, Any]:
    return {"every": schedule.every, "cron": schedule.cron, "tz": schedule.tz,
            "dst": schedule.dst, "catchUp": schedule.catch_up, "overlap": schedule.overlap}


def _loaded(read: Callable[[], Any], default: Any, consequence: str) -> Any:
    """A state file's content; one line in the log and `default` when it is unusable."""
    try:
        return read()
    except state.StateError as exc:
        log.warning("%s: ignored, %s", exc, consequence)
        return default
