"""Calling the pool from another program: `Client` (threads) and `AsyncClient` (asyncio)."""

from supervisor.client.aio import AsyncClient
from supervisor.client.sync import Client

__all__ = ["AsyncClient", "Client"]
