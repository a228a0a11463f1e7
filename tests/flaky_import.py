"""A handler module that fails at import while its marker file exists.

The marker's content picks how: `raise` raises (a handler load error), anything
else exits the process (a worker that dies at start).
"""

import os
import sys
from pathlib import Path

_MARKER = Path(os.environ.get("FLAKY_MARKER", "/nonexistent"))

if _MARKER.exists():
    if _MARKER.read_text() == "raise":
        raise RuntimeError("broken on purpose")
    sys.exit(3)


def ok(payload):
    return b"ok"
