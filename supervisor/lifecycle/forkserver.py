"""Preloaded into multiprocessing's forkserver, and imported nowhere else.

A signal sent to the whole process group (systemd's default KillMode, `kill -TERM
-PGID`, a closed terminal) would otherwise kill the forkserver at once, and with
it, through their parent-death signal, every worker in the middle of a request.
Ignoring TERM and HUP here leaves the decision to the master and the workers'
own handlers; the forkserver still exits when the master does, because it
watches the master through a pipe.
"""

import signal

import supervisor.worker.main  # noqa: F401  (preloaded so that workers start fast)
from supervisor.worker.child import set_title

signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
set_title("supervisor: forkserver")  # not `python -c 'from multiprocessing.forkserver ...'`
