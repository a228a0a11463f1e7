"""A throwaway process that imports a new config's handlers before the master applies it.

`supervisor reload` must not swap in a config whose handlers fail to import: the probe
imports them exactly as a worker would (same directory, same import path, a fresh
interpreter state from the same start method) and reports the first failure, with its
traceback, in a small JSON file; its exit code says whether there is one.
"""

from __future__ import annotations

import json
import os
import sys

from supervisor.worker.child import die_with_parent, set_title
from supervisor.worker.handlers import HandlerLoadError, build

FAILED = 3


def probe(handlers: dict[str, str], interceptors: dict[str, list[str]], cwd: str,
          import_path: tuple[str, ...], result: str) -> None:
    """Process main: exit 0 when everything imports, else FAILED with `result` written."""
    die_with_parent()
    set_title("supervisor: reload check")
    os.chdir(cwd)
    sys.path[:0] = [entry for entry in (cwd, *import_path) if entry not in sys.path]
    try:
        build(handlers, interceptors)
    except HandlerLoadError as exc:
        with open(result, "w", encoding="utf-8") as stream:
            json.dump({"key": exc.key, "error": str(exc), "traceback": exc.trace}, stream)
        sys.exit(FAILED)
