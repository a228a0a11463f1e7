"""Centrifugo integration: typed proxy handlers served by the pool, and a publish API client.

Everything importable from here is plain Python; gRPC and protobuf are loaded only by the
helper process (`supervisor: centrifugo`) and by `api()` when it is first called. An
integration above the pool's machinery: may import errors, wire, payload, config, client,
worker (the helper's child set-up) and lifecycle (the Helper and Service seam).
"""

from supervisor.centrifugo.api import ApiClient, ApiError, ApiUnauthorized, ApiUnavailable, api
from supervisor.centrifugo.requests import (
    ConnectRequest,
    ProxyRequest,
    PublishRequest,
    RefreshRequest,
    RPCRequest,
    SubRefreshRequest,
    SubscribeRequest,
)
from supervisor.centrifugo.results import (
    ChannelsCapability,
    ConnectResult,
    Disconnect,
    Error,
    FilterNode,
    PublishResult,
    RefreshResult,
    RPCResult,
    SubRefreshResult,
    SubscribeOptionOverride,
    SubscribeOptions,
    SubscribeResult,
)

__all__ = [
    "ApiClient", "ApiError", "ApiUnauthorized", "ApiUnavailable", "ChannelsCapability",
    "ConnectRequest", "ConnectResult", "Disconnect", "Error", "FilterNode", "ProxyRequest",
    "PublishRequest", "PublishResult", "RPCRequest", "RPCResult", "RefreshRequest",
    "RefreshResult", "SubRefreshRequest", "SubRefreshResult", "SubscribeOptionOverride",
    "SubscribeOptions", "SubscribeRequest", "SubscribeResult", "api",
]
