"""zmq-supervisor: a master process supervising a static pool of workers over ZeroMQ."""

from supervisor.client import AsyncClient, Client
from supervisor.payload import Payload

__all__ = ["AsyncClient", "Client", "Payload"]
__version__ = "0.1.0"
