"""An interceptor: logs how long each handler call took."""

import logging
import time

from supervisor import Payload

log = logging.getLogger("workers.telemetry")


def timed(payload: Payload, call_next):
    started = time.perf_counter()
    try:
        return call_next(payload)
    finally:
        log.info("handled in %.2f ms", (time.perf_counter() - started) * 1000)
