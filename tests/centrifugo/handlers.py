"""Centrifugo handlers and interceptors used by the tests (run in real workers)."""

from __future__ import annotations

import os
import signal
import time

from supervisor import centrifugo
from supervisor.centrifugo import (
    ConnectResult,
    Disconnect,
    Error,
    PublishResult,
    RefreshResult,
    RPCResult,
    SubRefreshResult,
    SubscribeOptionOverride,
    SubscribeOptions,
    SubscribeResult,
)

TRACE: list[str] = []
BINARY = bytes(range(256))


def trace_global(payload, call_next):
    """A pool-wide `"*"` interceptor: sees the Payload, before the typed adapter."""
    TRACE.clear()
    TRACE.append("global")
    return call_next(payload)


def trace_star(request, call_next):
    TRACE.append("*")
    return call_next(request)


def trace_rpc(request, call_next):
    TRACE.append("rpc")
    return call_next(request)


def on_connect(request):
    if request.encoding == "binary":
        if request.data != BINARY:
            raise AssertionError(f"binary data arrived as {request.data[:16]!r}")
        return ConnectResult(user="bin", data=request.data)
    token = request.json().get("token")
    if token == "deny":
        return Disconnect(4501, "unauthorized")
    if token == "raise-deny":
        raise Disconnect(4502, "banned")
    if token == "nothing":
        return None
    return ConnectResult(
        user=f"user-{token}", expire_at=1700000000, info={"auth": request.headers.get(
            "authorization")}, data=b"welcome", channels=["news", "chat"],
        subs={"personal": SubscribeOptions(
            info="personal-info", data=b"\x00\x01",
            override=SubscribeOptionOverride(presence=True, join_leave=False))},
        meta={"client": request.client, "name": request.name})


def on_refresh(request):
    if request.user == "gone":
        return RefreshResult(expired=True)
    if request.user == "error":
        return Error(400, "refresh cannot refuse")
    return RefreshResult(expire_at=1800000000, info=b"refreshed")


def on_subscribe(request):
    if request.channel == "secret":
        raise Error(403, "permission denied", temporary=False)
    return SubscribeResult(info={"channel": request.channel, "token": request.token},
                           data=request.data,
                           override=SubscribeOptionOverride(force_recovery=True))


def on_publish(request):
    message = request.json()
    return PublishResult(data={**message, "checked": True}, skip_history=True,
                         tags={"by": request.user})


def on_sub_refresh(request):
    return SubRefreshResult(expire_at=1900000000, info=request.channel)


def on_rpc(request):
    """Dispatch on `method`, so one handler can show every kind of answer."""
    TRACE.append("handler")
    method = request.method
    if method == "echo":
        return RPCResult(data=request.data)
    if method == "trace":
        return RPCResult(data=list(TRACE))
    if method == "pid":
        return RPCResult(data={"pid": os.getpid()})
    if method == "fail":
        return Error(1000, "rpc failed", temporary=True)
    if method == "raise":
        raise ValueError(f"boom in {os.getpid()}")
    if method == "wrong":
        return 42
    if method == "none":
        return None
    if method == "sleep":
        seconds = request.json()["seconds"]
        print(f"sleeping {seconds}s in {os.getpid()}", flush=True)
        time.sleep(seconds)
        return RPCResult(data={"slept": seconds, "pid": os.getpid()})
    if method == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    if method == "publish":
        channel = request.json()["channel"]
        reply = centrifugo.api().publish(channel, {"from": "worker"}, tags={"k": "v"})
        return RPCResult(data={"offset": reply.get("offset", 0)})
    return Error(404, f"unknown method {method}")
