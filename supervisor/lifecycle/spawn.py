"""Starting a child process with the configured multiprocessing start method."""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable
from multiprocessing import process as mp_process
from typing import Any


def start_child(method: str, target: Callable[..., Any], *args: Any, name: str) -> Any:
    """Start `target(*args)` in a new process with the chosen start method.

    The master waits for and reaps its children itself, so the process leaves
    multiprocessing's own list of children: that list is polled by whichever
    thread starts the next process (a race over the exit status with the loop)
    and joined without a timeout when the interpreter exits.
    """
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(["supervisor.lifecycle.forkserver"])
    process = context.Process(target=target, args=args, name=name, daemon=False)
    process.start()
    mp_process._children.discard(process)
    return process


def exit_text(code: int | None) -> str:
    """How a child ended, for people: `killed by SIGKILL` rather than `exited with code -9`."""
    if code is None:
        return "exited"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"
