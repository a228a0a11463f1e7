"""Starting a child process with the configured multiprocessing start method."""

from __future__ import annotations

import multiprocessing
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
