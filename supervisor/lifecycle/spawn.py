"""Starting a child process with the configured multiprocessing start method."""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable
from typing import Any


def start_child(method: str, target: Callable[..., Any], *args: Any, name: str) -> Any:
    """Start `target(*args)` in a new process with the chosen start method."""
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(["supervisor.lifecycle.forkserver"])
    process = context.Process(target=target, args=args, name=name, daemon=False)
    process.start()
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
