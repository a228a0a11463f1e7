"""Typed errors a caller of the pool can catch, and their names on the wire."""

from __future__ import annotations

# Exit codes of the master and the command line, defined once.
EXIT_OK = 0
EXIT_FAILURE = 1  # the command failed, or a `status`/`health` check found the service unhealthy
EXIT_CONFIG = 2  # a bad config, Tars conf or handler: fix and retry
EXIT_USAGE = 2  # a command line the program cannot read (argparse's own code for it)
EXIT_NOT_RUNNING = 3  # `status`: no master runs for this config
EXIT_INTERRUPTED = 130  # Ctrl-C stopped a command that is not interactive (128 + SIGINT)
EXIT_BROKEN_PIPE = 141  # the reader of our output went away, as a shell reports it (128 + SIGPIPE)


class SupervisorError(Exception):
    """Base of every error the client API raises; `code` (the class name) is its wire name."""

    code = "SupervisorError"

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.code = cls.__name__


class NoFreeWorkers(SupervisorError):
    """No worker became free within `pool.allocate_timeout`."""


class QueueFull(SupervisorError):
    """`pool.max_queue_size` requests were already waiting."""


class ExecTimeout(SupervisorError):
    """The request ran past the caller's timeout or `pool.supervisor.exec_ttl`."""


class WorkerLost(SupervisorError):
    """The worker died while it was running this request."""


class ConnectionLost(WorkerLost):
    """The connection dropped after the request was sent: it may have run, or not."""

    code = "ConnectionLost"


class NotRunning(SupervisorError):
    """The master is stopping, or not there at all."""


class BadRequest(SupervisorError):
    """The master could not make sense of the request (unknown handler, bad frames)."""


class HandlerError(SupervisorError):
    """The handler raised; carries the exception's type name and message."""

    def __init__(self, type_name: str, message: str, worker_id: int | None = None) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type = type_name
        self.message = message
        self.worker_id = worker_id


class StartupError(Exception):
    """The master cannot start: an address it must listen on is taken (one line, its key)."""


class ConfigError(Exception):
    """A config or Tars conf that cannot be used; the message is one line for the operator."""


BY_CODE: dict[str, type[SupervisorError]] = {
    cls.code: cls
    for cls in (NoFreeWorkers, QueueFull, ExecTimeout, WorkerLost, NotRunning, BadRequest)
}
