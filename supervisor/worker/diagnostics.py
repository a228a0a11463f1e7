"""A worker's Python stacks on demand: faulthandler writes them when the master signals.

faulthandler's handler is C code, so the stacks come out even when the handler is stuck in
a C call or a tight loop. They go to a file of the worker's own in run_dir (opened for
appending, so the master may empty it before each request): the text outlives the process,
which the master may kill right after reading it (exec_ttl).
"""

from __future__ import annotations

import faulthandler
import signal
from pathlib import Path
from typing import IO

DUMP_SIGNAL = signal.SIGUSR2


def stacks_path(run_dir: Path, ident: bytes) -> str:
    """Where the worker `ident` writes its stacks."""
    return str(run_dir / f"stacks-{ident.decode()}.txt")


def enable_stack_dumps(path: str) -> IO[str]:
    """Dump every thread's stack to `path` on DUMP_SIGNAL; keep the returned file open."""
    stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 (open for the process's life)
    faulthandler.register(DUMP_SIGNAL, file=stream, all_threads=True, chain=False)
    return stream
