"""A handler module that exits at import while its marker file exists (fails at start)."""

import os
import sys

if os.path.exists(os.environ.get("FLAKY_MARKER", "/nonexistent")):
    sys.exit(3)


def ok(payload):
    return b"ok"
