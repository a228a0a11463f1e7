"""Master side of logging: one stream for the master and every child, text or JSON lines.

Each line names the process it came from (`master`, `worker 3`, `scheduler`) and
its pid. Under journald (JOURNAL_STREAM set) text lines drop the timestamp, which
the journal adds itself. `reopen()` serves SIGUSR1 after logrotate moved the file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import sys
import time

from supervisor import wire
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


class _QuietErrors:
    """A handler that cannot write says so once a minute, not with a traceback per record.

    On a full disk the standard handler prints "--- Logging error ---" and a
    traceback for every record: megabytes of stderr and a busy CPU.
    """

    REPORT_EVERY = 60.0
    _reported_at = float("-inf")
    _lost = 0

    def handleError(self, record: logging.LogRecord) -> None:
        quiet = _QuietErrors  # shared, so a reopened handler does not report again at once
        quiet._lost += 1
        now = time.monotonic()
        if now - quiet._reported_at < self.REPORT_EVERY:
            return
        quiet._reported_at = now
        error = sys.exc_info()[1]
        with contextlib.suppress(Exception):
            sys.__stderr__.write(f"supervisor: cannot write the log ({error}); "
                                 f"{quiet._lost} records lost so far\n")
            sys.__stderr__.flush()


class _QuietFileHandler(_QuietErrors, logging.FileHandler):
    pass


class _QuietStreamHandler(_QuietErrors, logging.StreamHandler):
    pass


def _text_formatter() -> logging.Formatter:
    stamp = "" if os.environ.get("JOURNAL_STREAM") else "%(asctime)s "
    return logging.Formatter(f"{stamp}%(levelname)s [%(source)s %(source_pid)s] "
                             f"%(name)s: %(message)s")


def log_handler_error(worker_id: int, pid: int | None, handler: bytes, body: bytes) -> bytes:
    """Log a handler's traceback with the worker's id; the caller gets the rest of the error."""
    try:
        info = wire.load_json(body)
        trace = info.pop("traceback", "")
    except (wire.WireError, AttributeError):
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
        """(Re)open the configured file, or stderr when there is none.

        The new file is opened before the old one is closed: when it cannot be
        (a full disk, a removed directory) logging goes on where it was.
        """
        root = logging.getLogger()
        try:
            handler = self._open()
        except OSError as exc:
            if self.handler is None:
                raise
            logging.getLogger("supervisor.logs").error(
                "cannot reopen the log file %s: %s; logging goes on to the old one",
                self.config.file, exc)
            return
        handler.setFormatter(JsonFormatter() if self.config.format == "json"
                             else _text_formatter())
        handler.addFilter(_Origin())
        old, self.handler = self.handler, handler
        root.addHandler(handler)
        root.setLevel(self.config.level.upper())
        if old is not None:
            root.removeHandler(old)
            with contextlib.suppress(OSError):
                old.close()

    def _open(self) -> logging.Handler:
        if not self.config.file:
            return _QuietStreamHandler(sys.stderr)
        os.makedirs(os.path.dirname(os.path.abspath(self.config.file)), exist_ok=True)
        mode = self._open_mode()
        if mode is not None and not os.path.exists(self.config.file):
            fd = os.open(self.config.file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, mode)
            os.fchmod(fd, mode)  # whatever the umask says
            os.close(fd)
        return _QuietFileHandler(self.config.file, encoding="utf-8")

    def _open_mode(self) -> int | None:
        """The permissions of the file logged to until now (logrotate may have moved it):
        a file made by a reopen gets the same, not the umask's."""
        if not isinstance(self.handler, logging.FileHandler) or self.handler.stream is None:
            return None
        try:
            return stat.S_IMODE(os.fstat(self.handler.stream.fileno()).st_mode)
        except (OSError, ValueError):
            return None

    def child_line(self, frames: list[bytes]) -> None:
        """Log one line a child forwarded: [tag, pid, kind, data]."""
        if len(frames) != 4:
            return
        tag, pid, kind, data = frames
        text = data.decode("utf-8", "replace")
        level, name = logging.INFO, _KINDS.get(kind, "output")
        if kind == b"log":
            try:
                entry = wire.load_json(data)
                level, name, text = int(entry["level"]), str(entry["name"]), str(entry["msg"])
            except (wire.WireError, ValueError, KeyError, TypeError):
                pass
        extra = {"source": tag.decode("utf-8", "replace"),
                 "source_pid": pid.decode("ascii", "replace")}
        if self.child.isEnabledFor(level):
            record = self.child.makeRecord(name, level, "(child)", 0, text, None, None,
                                           extra=extra)
            self.child.handle(record)
