"""A handler module whose import takes $SLOW_IMPORT_SECONDS (default 10): a worker stuck
starting, as with a handler that connects to a database that does not answer."""

import os
import time

time.sleep(float(os.environ.get("SLOW_IMPORT_SECONDS", "10")))


def ok(payload):
    return b"ok"
