"""What every child of the master does first: die with its parent, show its role in `ps`."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys

PR_SET_PDEATHSIG = 1

def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent goes.

    This does not depend on Python code running in the child, so a worker stuck
    in a blocking C call still goes when the master (or the forkserver, which
    exits when the master does) is killed.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _release_forkserver()
    if os.getppid() == 1:
        os._exit(1)


def lead_process_group(title: str) -> None:
    """Lead a process group of this process's own, which the master kills with it.

    Whatever a handler starts (`subprocess`, `os.fork`) joins the group and so goes
    with the worker, on every path: the master kills the group when the worker exits,
    and its reaper does when the master itself is killed. A forked child is titled
    `TITLE child`, so `ps` never shows it as the worker.
    """
    os.setpgid(0, 0)
    os.register_at_fork(after_in_child=lambda: set_title(f"{title} child"))


def _release_forkserver() -> None:
    """Close the forkserver's "master alive" pipe end that multiprocessing hands every child.

    The forkserver exits when that pipe has no writer left; a worker keeping a
    copy would keep the forkserver, its parent, alive after a SIGKILLed master,
    and with it the worker itself (PDEATHSIG never fires).
    """
    from multiprocessing import forkserver

    server = forkserver._forkserver
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is not None and multiprocessing.parent_process() is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
        server._forkserver_alive_fd = None


def set_title(title: str) -> None:
    """Show the process's role in `ps` when setproctitle is installed."""
    try:
        import setproctitle
    except ImportError:
        return
    setproctitle.setproctitle(title)
