"""Calling the pool from another program: `Client` (threads) and `AsyncClient` (asyncio).

Beside `pool` in the layers: imports only `errors` and `wire` (and `failover`, given the
client class, for `Client([...])`).
"""

from supervisor.client.aio import AsyncClient
from supervisor.client.sync import Client

__all__ = ["AsyncClient", "Client"]
