"""Starting a child process with the configured multiprocessing start method."""

from __future__ import annotations

import multiprocessing
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
