"""Child side of logging: a child's stdout, stderr and `logging` records go to the master.

fd 1 and fd 2 are pipes read by a thread, so even output written by C code
reaches the master's log, tagged with the child's role and pid.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import sys
import threading

import zmq

_CHUNK = 65536
_FINAL_CHUNKS = 64  # read at close, even from a pipe a handler's child keeps writing to
MAX_LINE = 16384
"""A line of output (stdout, stderr) longer than this is cut, with a note saying so."""
MAX_RECORD = 65536
"""A log record (a traceback, say) may be longer than a line of output."""


def cut_message(message: str, limit: int = MAX_RECORD) -> str:
    """`message`, or its first `limit` characters and a note saying how many more there were."""
    if len(message) <= limit:
        return message
    return (f"{message[:limit]} [message cut at {limit} characters; "
            f"{len(message) - limit} more are not logged]")


class Lines:
    """Splits a stream into lines for the log, each cut at `limit` bytes (and marked so)."""

    def __init__(self, limit: int = MAX_LINE) -> None:
        self.limit = limit
        self.cut = b" [line cut at %d bytes; the rest of it is not logged]" % limit
        self.pending = b""
        self.skipping = False  # inside a line already cut: drop until its newline

    def feed(self, chunk: bytes) -> list[bytes]:
        data, out = self.pending + chunk, []
        while True:
            end = data.find(b"\n")
            if self.skipping:
                if end < 0:
                    data = b""
                    break
                data, self.skipping = data[end + 1:], False
            elif end < 0:
                if len(data) > self.limit:
                    out.append(data[:self.limit] + self.cut)
                    data, self.skipping = b"", True
                break
            else:
                line, data = data[:end], data[end + 1:]
                out.append(line if len(line) <= self.limit else line[:self.limit] + self.cut)
        self.pending = data
        return out

    def end(self) -> list[bytes]:
        """The last line, which had no newline."""
        rest, self.pending = self.pending, b""
        return [rest] if rest else []


class _PipeHandler(logging.Handler):
    """Writes each record as one JSON line to a pipe the forwarding thread reads."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = json.dumps({"level": record.levelno, "name": record.name,
                               "msg": cut_message(self.format(record))})
            os.write(self.fd, line.encode() + b"\n")
        except Exception:
            self.handleError(record)


class Capture:
    """Redirects this process's output to the master's log socket until `close()`."""

    def __init__(self, context: zmq.Context, endpoint: str, tag: str, level: str) -> None:
        self.socket = context.socket(zmq.PUSH)
        self.socket.linger = 1000
        self.socket.connect(endpoint)
        self.prefix = [tag.encode(), str(os.getpid()).encode()]
        self.streams: dict[int, bytes] = {}
        for kind, target in ((b"out", 1), (b"err", 2)):
            read, write = os.pipe()
            os.dup2(write, target)
            os.close(write)
            self.streams[read] = kind
        log_read, self.log_write = os.pipe()
        self.streams[log_read] = b"log"
        sys.stdout.reconfigure(line_buffering=True)
        sys.stderr.reconfigure(line_buffering=True)
        root = logging.getLogger()
        root.handlers[:] = [_PipeHandler(self.log_write)]
        root.setLevel(level.upper())
        self._stop_r, self._stop_w = os.pipe()
        self.thread = threading.Thread(target=self._pump, name="capture", daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        lines = {fd: Lines(MAX_RECORD + 1024 if kind == b"log" else MAX_LINE)
                 for fd, kind in self.streams.items()}
        while lines:
            readable, _, _ = select.select([*lines, self._stop_r], [], [])
            if self._stop_r in readable:  # close(): forward what is there now, and stop
                for fd in list(lines):
                    for _ in range(_FINAL_CHUNKS):
                        if not select.select([fd], [], [], 0)[0] or not (chunk := os.read(
                                fd, _CHUNK)):
                            break
                        self._send(fd, lines[fd].feed(chunk))
                    self._end(fd, lines)
                return
            for fd in readable:
                chunk = os.read(fd, _CHUNK)
                self._send(fd, lines[fd].feed(chunk))
                if not chunk:
                    self._end(fd, lines)

    def _end(self, fd: int, lines: dict[int, Lines]) -> None:
        self._send(fd, lines.pop(fd).end())
        os.close(fd)

    def _send(self, fd: int, lines: list[bytes]) -> None:
        for line in lines:
            self.socket.send_multipart([*self.prefix, self.streams[fd], line])

    def close(self) -> None:
        """Flush everything written so far to the master, then stop forwarding."""
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        logging.getLogger().handlers[:] = []
        os.close(self.log_write)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)
        os.write(self._stop_w, b"!")  # what this process wrote is in the pipes: forward it
        self.thread.join(timeout=2.0)  # and go, even if a handler's child keeps a pipe open
        self.socket.close()
