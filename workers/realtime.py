"""Centrifugo's real-time clients served by the pool: connect, subscribe and rpc handlers.

Run with `conf/centrifugo.example.yaml`. Connect checks a token sent in the connect data
(a real application would verify a signed token); subscribe allows public channels and the
user's own `personal:<user>` channel; rpc answers `time` and `echo`, and `shout`, which
publishes back through Centrifugo's server API.
"""

from __future__ import annotations

import time

from supervisor import centrifugo
from supervisor.centrifugo import (
    ConnectRequest,
    ConnectResult,
    Disconnect,
    Error,
    RPCRequest,
    RPCResult,
    SubscribeRequest,
    SubscribeResult,
)

TOKENS = {"demo-token-alice": "alice", "demo-token-bob": "bob"}
PUBLIC = ("news", "chat")


def on_connect(request: ConnectRequest) -> ConnectResult | Disconnect:
    token = request.json().get("token") if request.data else None
    user = TOKENS.get(token)
    if user is None:
        return Disconnect(4501, "unauthorized")
    return ConnectResult(user=user, expire_at=int(time.time()) + 3600,
                         info={"name": user.title()}, channels=[f"personal:{user}"])


def on_subscribe(request: SubscribeRequest) -> SubscribeResult:
    if request.channel in PUBLIC or request.channel == f"personal:{request.user}":
        return SubscribeResult(info={"joined": int(time.time())})
    raise Error(403, "permission denied")


def on_rpc(request: RPCRequest) -> RPCResult | Error:
    if request.method == "time":
        return RPCResult(data={"time": time.time()})
    if request.method == "echo":
        return RPCResult(data=request.data)
    if request.method == "shout":
        text = str(request.json().get("text", ""))[:200]
        centrifugo.api().publish("chat", {"from": request.user, "text": text.upper()})
        return RPCResult(data={"published": True})
    return Error(404, f"unknown method {request.method!r}")
