"""How each way a proxy call can end maps to a gRPC status (names of `grpc.StatusCode`).

Pure data, so the README's failure table, the helper and the tests read the same mapping.
Any gRPC error reaches a Centrifugo client as `100: internal server error` (temporary) for
connect, subscribe, publish and rpc; for refresh and sub_refresh Centrifugo keeps the
connection for another minute and asks again. An empty response would instead be read as
a decision ("no credentials", "expired", "allowed"), which is why failures never become one.
"""

from __future__ import annotations

from supervisor import errors

OK = "OK"
CANCELLED = "CANCELLED"  # the caller gave up (or its deadline passed) while the pool ran it

# Errors of the pool, by their wire code.
STATUS: dict[str, str] = {
    errors.HandlerError.code: "INTERNAL",          # the handler raised or returned a wrong type
    errors.ExecTimeout.code: "DEADLINE_EXCEEDED",  # past the effective deadline or exec_ttl
    errors.NoFreeWorkers.code: "RESOURCE_EXHAUSTED",
    errors.QueueFull.code: "RESOURCE_EXHAUSTED",
    errors.WorkerLost.code: "UNAVAILABLE",         # the worker died while running the call
    errors.NotRunning.code: "UNAVAILABLE",         # the master is stopping or gone
    errors.BadRequest.code: "INTERNAL",
}

def status_for(error: errors.SupervisorError) -> str:
    """The gRPC status name for an error the pool answered with."""
    return STATUS.get(error.code, "INTERNAL")
