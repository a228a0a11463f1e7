"""A handler module whose import waits until the file named by $GATE_FILE exists.

Workers import it while starting, so a test decides when they become ready.
"""

import os
import time

print("waiting at the gate", flush=True)
_deadline = time.monotonic() + 30
while not os.path.exists(os.environ["GATE_FILE"]) and time.monotonic() < _deadline:
    time.sleep(0.01)


def passed(payload) -> bytes:
    return b"passed"
