"""Master side of logging: one stream for the master and every child, text or JSON lines.

Each line names the process it came from (`master`, `worker 3`, `scheduler`) and
its pid. Under journald (JOURNAL_STREAM set) text lines drop the timestamp, which
the journal adds itself. `reopen()` serves SIGUSR1 after logrotate moved the file.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

from supervisor.config import LogConfig

CHILD_LOGGER = "supervisor.child"
_KINDS = {b"out": "stdout", b"err": "stderr"}


class _Origin(logging.Filter):
    """Give every record a `source` and `source_pid`; the master's own are `master`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "source"):
            record.source = "master"
            record.source_pid = os.getpid()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "process": record.source,
            "pid": record.source_pid,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _text_formatter() -> logging.Formatter:
    stamp = "" if os.environ.get("JOURNAL_STREAM") else "%(asctime)s "
    return logging.Formatter(f"{stamp}%(levelname)s [%(source)s %(source_pid)s] "
                             f"%(name)s: %(message)s")


def log_handler_error(worker_id: int, pid: int | None, handler: bytes, body: bytes) -> bytes:
    """Log a handler's traceback with the worker's id; the caller gets the rest of the error."""
    try:
        info = json.loads(body)
        trace = info.pop("traceback", "")
    except (ValueError, AttributeError):
        return body
    logging.getLogger("supervisor.master").error(
        "worker %d (pid %s) handler %r raised %s: %s\n%s", worker_id, pid,
        handler.decode("utf-8", "replace"), info.get("type"), info.get("message"), trace.rstrip())
    return json.dumps(info).encode()


class Logs:
    """Owns the root handler so it can be rebuilt when the log file must be reopened."""

    def __init__(self, config: LogConfig) -> None:
        self.config = config
        self.handler: logging.Handler | None = None
        self.child = logging.getLogger(CHILD_LOGGER)
        self.reopen()

    def reopen(self) -> None:
        """(Re)open the configured file, or stderr when there is none."""
        root = logging.getLogger()
        if self.handler is not None:
            root.removeHandler(self.handler)
            self.handler.close()
        if self.config.file:
            os.makedirs(os.path.dirname(os.path.abspath(self.config.file)), exist_ok=True)
            handler: logging.Handler = logging.FileHandler(self.config.file, encoding="utf-8")
        else:
            handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter() if self.config.format == "json"
                             else _text_formatter())
        handler.addFilter(_Origin())
        root.addHandler(handler)
        root.setLevel(self.config.level.upper())
        self.handler = handler

    def child_line(self, frames: list[bytes]) -> None:
        """Log one line a child forwarded: [tag, pid, kind, data]."""
        if len(frames) != 4:
            return
        tag, pid, kind, data = frames
        text = data.decode("utf-8", "replace")
        level, name = logging.INFO, _KINDS.get(kind, "output")
        if kind == b"log":
            try:
                entry = json.loads(text)
                level, name, text = int(entry["level"]), str(entry["name"]), str(entry["msg"])
            except (ValueError, KeyError, TypeError):
                pass
        extra = {"source": tag.decode("utf-8", "replace"),
                 "source_pid": pid.decode("ascii", "replace")}
        if self.child.isEnabledFor(level):
            record = self.child.makeRecord(name, level, "(child)", 0, text, None, None,
                                           extra=extra)
            self.child.handle(record)
