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


class _PipeHandler(logging.Handler):
    """Writes each record as one JSON line to a pipe the forwarding thread reads."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = json.dumps({"level": record.levelno, "name": record.name,
                               "msg": self.format(record)})
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
        self.thread = threading.Thread(target=self._pump, name="capture", daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        pending = {fd: b"" for fd in self.streams}
        while pending:
            readable, _, _ = select.select(list(pending), [], [])
            for fd in readable:
                chunk = os.read(fd, _CHUNK)
                data = pending[fd] + chunk
                *lines, rest = data.split(b"\n")
                for line in lines:
                    self.socket.send_multipart([*self.prefix, self.streams[fd], line])
                if chunk:
                    pending[fd] = rest
                    continue
                if rest:
                    self.socket.send_multipart([*self.prefix, self.streams[fd], rest])
                os.close(fd)
                del pending[fd]

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
        self.thread.join(timeout=2.0)
        self.socket.close()
