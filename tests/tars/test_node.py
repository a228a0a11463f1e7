"""NodeClient against the stand-in node and against nodes that misbehave."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from supervisor.tars import codec
from supervisor.tars.conf import Endpoint
from supervisor.tars.node import NodeClient, NodeError
from supervisor.tars.standin import StandInNode

APP, SERVER, ADAPTER = "App", "Server", "App.Server.ObjAdapter"


@pytest.mark.parametrize("version", [1, 3])
@pytest.mark.parametrize("oneway", [False, True])
def test_calls_reach_the_node(version: int, oneway: bool) -> None:
    with StandInNode() as node, NodeClient(node.endpoint, version=version, oneway=oneway) as c:
        assert c.report_version(APP, SERVER, "0.1.0") == 0
        assert c.keep_alive(APP, SERVER, 4242, ADAPTER) == 0
        assert c.keep_alive(APP, SERVER, 4242, "AdminAdapter") == 0
        assert node.wait_for(3, timeout=5)
    version_call, first, admin = node.calls
    assert (version_call.func, version_call.app_version) == ("reportVersion", "0.1.0")
    assert (first.func, first.application, first.server_name) == ("keepAlive", APP, SERVER)
    assert (first.pid, first.adapter, admin.adapter) == (4242, ADAPTER, "AdminAdapter")
    assert {c.version for c in node.calls} == {version}
    assert {c.oneway for c in node.calls} == {oneway}
    assert [c.request_id for c in node.calls] == [1, 2, 3]


def test_unknown_server_is_rejected_and_the_connection_kept() -> None:
    with StandInNode(known=["Other.Server"]) as node, NodeClient(node.endpoint) as client:
        for _ in range(2):
            with pytest.raises(NodeError) as caught:
                client.keep_alive(APP, SERVER, 1, ADAPTER)
            assert caught.value.kind == "rejected"
            assert "returned -1" in str(caught.value)
        assert client._sock is not None


def test_refused_is_reported_at_once() -> None:
    with StandInNode() as node:
        endpoint = node.endpoint
    started = time.monotonic()
    with pytest.raises(NodeError) as caught:
        NodeClient(endpoint).keep_alive(APP, SERVER, 1)
    assert caught.value.kind == "refused"
    assert "connection refused" in str(caught.value)
    assert time.monotonic() - started < 1


def test_a_node_that_never_answers_times_out_within_the_endpoint_timeout(
    silent_node: Endpoint,
) -> None:
    client = NodeClient(silent_node)
    assert client.timeout == 0.3
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(NodeError) as caught:
            client.keep_alive(APP, SERVER, 1, ADAPTER)
        elapsed = time.monotonic() - started
        assert caught.value.kind == "timeout"
        assert "timed out after 0.3s" in str(caught.value)
        assert 0.25 < elapsed < 1.0


def test_a_shorter_per_call_timeout_wins(silent_node: Endpoint) -> None:
    started = time.monotonic()
    with pytest.raises(NodeError, match="timed out"):
        NodeClient(silent_node).keep_alive(APP, SERVER, 1, timeout=0.05)
    assert time.monotonic() - started < 0.25


def test_one_way_calls_do_not_wait_for_a_silent_node(silent_node: Endpoint) -> None:
    started = time.monotonic()
    with NodeClient(silent_node, oneway=True) as client:
        assert client.keep_alive(APP, SERVER, 1) == 0
    assert time.monotonic() - started < 0.25


def test_reconnects_after_the_node_restarts() -> None:
    first = StandInNode().start()
    client = NodeClient(first.endpoint)
    assert client.keep_alive(APP, SERVER, 7, ADAPTER) == 0
    port = first.port
    first.stop()
    with pytest.raises(NodeError) as caught:
        client.keep_alive(APP, SERVER, 7, ADAPTER)
    assert caught.value.kind == "refused"
    with StandInNode(port=port) as second:
        assert client.keep_alive(APP, SERVER, 7, ADAPTER) == 0
        assert second.wait_for(1, timeout=5)
        assert second.calls[0].pid == 7
    client.close()


def test_a_restart_between_calls_costs_no_failed_call() -> None:
    first = StandInNode().start()
    client = NodeClient(first.endpoint)
    client.keep_alive(APP, SERVER, 7, ADAPTER)
    first.stop()
    with StandInNode(port=first.port) as second:
        assert client.keep_alive(APP, SERVER, 7, ADAPTER) == 0
        assert second.wait_for(1, timeout=5)
    client.close()


def _answer_with(make: Callable[..., Any], reply: Callable[[codec.Request], bytes]) -> NodeClient:
    node = make(lambda body: reply(codec.decode_request(body)))
    return NodeClient(node.endpoint)


def test_garbage_reply_is_a_bad_reply_and_the_next_call_reconnects(scripted_node) -> None:
    answers = iter([b"\x00\x00\x00\x0a\xff\xff\xff\xff\xff\xff"])

    def reply(request: codec.Request) -> bytes:
        return next(answers, None) or codec.encode_reply(request, 0)

    client = _answer_with(scripted_node, reply)
    with pytest.raises(NodeError) as caught:
        client.keep_alive(APP, SERVER, 1)
    assert caught.value.kind == "bad-reply"
    assert client.keep_alive(APP, SERVER, 1) == 0


def test_wrong_request_id_is_a_bad_reply(scripted_node) -> None:
    def reply(request: codec.Request) -> bytes:
        stale = codec.Request(**{**request.__dict__, "request_id": request.request_id + 100})
        return codec.encode_reply(stale, 0)

    with pytest.raises(NodeError, match="request id 101, expected 1") as caught:
        _answer_with(scripted_node, reply).keep_alive(APP, SERVER, 1)
    assert caught.value.kind == "bad-reply"


@pytest.mark.parametrize("version", [1, 3])
def test_non_zero_iret_is_a_bad_reply(scripted_node, version: int) -> None:
    def reply(request: codec.Request) -> bytes:
        return codec.encode_reply(request, 0, ret=-3, desc="server busy")

    client = _answer_with(scripted_node, reply)
    client.version = version
    with pytest.raises(NodeError, match=r"iRet=-3 \(server busy\)"):
        client.keep_alive(APP, SERVER, 1)


def test_a_node_that_hangs_up_mid_call(scripted_node) -> None:
    node = scripted_node(lambda body: b"\x00\x00\x00\x40\x10", hang_up=True)
    started = time.monotonic()
    with pytest.raises(NodeError, match="connection closed during keepAlive") as caught:
        NodeClient(node.endpoint).keep_alive(APP, SERVER, 1)
    assert caught.value.kind == "closed"
    assert time.monotonic() - started < 0.5


def test_rejects_unknown_packet_versions() -> None:
    with pytest.raises(ValueError):
        NodeClient(Endpoint("127.0.0.1", 1), version=2)
