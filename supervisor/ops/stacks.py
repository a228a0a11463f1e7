"""Workers' Python stacks, asked for by signal and read back from their files in run_dir.

A hung worker is the hardest thing to explain after the fact, so before the master kills one
for running past exec_ttl it asks for the worker's stacks (see `supervisor.worker.diagnostics`),
waits `WAIT` seconds for faulthandler to write them, and logs them with the kill.
`supervisor dump WORKER_ID` asks the same of a live worker and leaves it running.
"""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from supervisor.worker.diagnostics import DUMP_SIGNAL, stacks_path

WAIT = 0.3
"""Seconds between the signal and reading the file: faulthandler writes from its signal
handler in C, so this is the signal's delivery plus the writing of a few kilobytes."""

MAX_BYTES = 256 * 1024


@dataclass
class _Pending:
    due: float
    path: str
    then: Callable[[str], None]


class StackDumps:
    """Dumps asked for and not yet read; the loop calls `due` when `next_deadline` comes."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.pending: list[_Pending] = []

    def request(self, ident: bytes, pid: int, now: float, then: Callable[[str], None]) -> bool:
        """Signal worker `ident` (pid `pid`); `then(stacks)` runs WAIT seconds later.

        False when the worker is already gone (nothing will be called).
        """
        path = stacks_path(self.run_dir, ident)
        with contextlib.suppress(OSError):
            os.truncate(path, 0)  # opened for appending, the worker writes from the start
        try:
            os.kill(pid, DUMP_SIGNAL)
        except ProcessLookupError:
            return False
        self.pending.append(_Pending(now + WAIT, path, then))
        return True

    def next_deadline(self) -> float | None:
        return min((p.due for p in self.pending), default=None)

    def due(self, now: float) -> None:
        for entry in [p for p in self.pending if p.due <= now]:
            self.pending.remove(entry)
            entry.then(_read(entry.path))

    def forget(self, ident: bytes) -> None:
        """Worker `ident` has exited: its file goes (a pending dump was read or never will be)."""
        path = stacks_path(self.run_dir, ident)
        if not any(p.path == path for p in self.pending):
            with contextlib.suppress(OSError):
                os.unlink(path)

    def close(self) -> None:
        for path in glob.glob(str(self.run_dir / "stacks-*.txt")):
            with contextlib.suppress(OSError):
                os.unlink(path)


def _read(path: str) -> str:
    try:
        with open(path, "rb") as stream:
            text = stream.read(MAX_BYTES).decode("utf-8", "replace").rstrip()
    except OSError:
        text = ""
    with contextlib.suppress(OSError):
        os.truncate(path, 0)
    return text or "(no stacks were written: the worker did not answer the signal in time)"
