"""Centrifugo's proxy events through a real master and workers, called by a fake Centrifugo.

The caller is @grpc/grpc-js loading the reference proxy.proto (tests/centrifugo/node); every
answer is judged by Centrifugo's rules there (`decision`, `violations`).
"""

from __future__ import annotations

import base64
import json
import re

import pytest

from tests.centrifugo.conftest import CREDENTIALS
from tests.centrifugo.handlers import BINARY


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def ok(answer: dict) -> dict:
    assert answer["ok"], answer
    assert answer["violations"] == [], answer
    return answer["response"]


def rpc(centrifugo, method: str, data=None, **args) -> dict:
    return centrifugo.call("RPC", {"client": "c1", "user": "42", "method": method,
                                   "data": b64(json.dumps(data if data is not None else {}))},
                           CREDENTIALS, **args)


# --- 1. connect ---

def test_connect_token_and_header_reach_the_handler_and_the_result_arrives_field_for_field(
        centrifugo):
    answer = centrifugo.call(
        "Connect", {"client": "c1", "transport": "websocket", "protocol": "json",
                    "encoding": "json", "data": b64('{"token": "t1"}'), "name": "js",
                    "version": "5.0"},
        {**CREDENTIALS, "authorization": "Bearer abc"})
    result = ok(answer)["result"]
    assert answer["decision"] == "result"
    assert result["user"] == "user-t1"
    assert result["expire_at"] == "1700000000"
    assert json.loads(unb64(result["info"])) == {"auth": "Bearer abc"}
    assert unb64(result["data"]) == b"welcome"
    assert result["channels"] == ["news", "chat"]
    assert json.loads(unb64(result["meta"])) == {"client": "c1", "name": "js"}
    personal = result["subs"]["personal"]
    assert unb64(personal["info"]) == b"personal-info"
    assert unb64(personal["data"]) == b"\x00\x01"
    assert personal["override"] == {"presence": {"value": True}, "join_leave": {}}


@pytest.mark.parametrize(("token", "code", "reason"), [("deny", 4501, "unauthorized"),
                                                       ("raise-deny", 4502, "banned")])
def test_a_denying_handler_sends_only_the_disconnect(centrifugo, token, code, reason):
    answer = centrifugo.call("Connect", {"client": "c2", "data": b64(json.dumps(
        {"token": token}))}, CREDENTIALS)
    response = ok(answer)
    assert response == {"disconnect": {"code": code, "reason": reason}}
    assert answer["decision"] == f"disconnect {code}"


def test_binary_encoding_reaches_the_handler_as_raw_bytes(centrifugo):
    answer = centrifugo.call("Connect", {"client": "c3", "encoding": "binary",
                                         "b64data": b64(BINARY)}, CREDENTIALS)
    result = ok(answer)["result"]
    assert result["user"] == "bin"
    assert unb64(result["data"]) == BINARY


def test_invalid_base64_is_refused_before_the_pool(centrifugo):
    answer = centrifugo.call("Connect", {"encoding": "binary", "b64data": "not base64!"},
                             CREDENTIALS)
    assert answer["status"] == "INVALID_ARGUMENT", answer


def test_connect_without_a_result_is_a_handler_error_not_no_credentials(centrifugo):
    answer = centrifugo.call("Connect", {"data": b64('{"token": "nothing"}')}, CREDENTIALS)
    assert answer["status"] == "INTERNAL", answer
    assert "no credentials" in answer["details"]


# --- 2. the other events ---

def test_refresh_extends_or_expires(centrifugo):
    extended = centrifugo.call("Refresh", {"client": "c1", "user": "42"}, CREDENTIALS)
    assert ok(extended)["result"] == {"expire_at": "1800000000", "info": b64("refreshed")}
    assert extended["decision"] == "extend"
    expired = centrifugo.call("Refresh", {"client": "c1", "user": "gone"}, CREDENTIALS)
    assert ok(expired) == {"result": {"expired": True}}
    assert expired["decision"] == "expired"


def test_an_error_from_refresh_is_a_handler_error(centrifugo):
    answer = centrifugo.call("Refresh", {"user": "error"}, CREDENTIALS)
    assert answer["status"] == "INTERNAL", answer
    assert "Centrifugo ignores" in answer["details"]


def test_subscribe_allows_with_options_or_refuses_with_an_error(centrifugo):
    allowed = centrifugo.call("Subscribe", {"user": "42", "channel": "news", "token": "st",
                                            "data": b64("hi")}, CREDENTIALS)
    result = ok(allowed)["result"]
    assert json.loads(unb64(result["info"])) == {"channel": "news", "token": "st"}
    assert unb64(result["data"]) == b"hi"
    assert result["override"] == {"force_recovery": {"value": True}}
    refused = centrifugo.call("Subscribe", {"user": "42", "channel": "secret"}, CREDENTIALS)
    assert ok(refused) == {"error": {"code": 403, "message": "permission denied"}}
    assert refused["decision"] == "error 403"


def test_publish_replaces_the_data_and_skips_history(centrifugo):
    answer = centrifugo.call("Publish", {"user": "42", "channel": "chat",
                                         "data": b64('{"text": "hello"}')}, CREDENTIALS)
    result = ok(answer)["result"]
    assert json.loads(unb64(result["data"])) == {"text": "hello", "checked": True}
    assert result["skip_history"] is True
    assert result["tags"] == {"by": "42"}


def test_rpc_echoes_by_method_and_answers_application_errors(centrifugo):
    echoed = centrifugo.call("RPC", {"method": "echo", "data": b64('{"n": 7}')}, CREDENTIALS)
    assert json.loads(unb64(ok(echoed)["result"]["data"])) == {"n": 7}
    failed = rpc(centrifugo, "fail")
    assert ok(failed) == {"error": {"code": 1000, "message": "rpc failed", "temporary": True}}


def test_rpc_returning_none_answers_empty_data(centrifugo):
    answer = rpc(centrifugo, "none")
    assert ok(answer) == {}
    assert answer["decision"] == "empty data"


def test_sub_refresh_round_trips(centrifugo):
    answer = centrifugo.call("SubRefresh", {"user": "42", "channel": "news"}, CREDENTIALS)
    assert ok(answer)["result"] == {"expire_at": "1900000000", "info": b64("news")}


# --- 3. interceptors ---

def test_interceptors_run_global_then_star_then_per_event_then_the_handler(centrifugo):
    answer = rpc(centrifugo, "trace")
    assert json.loads(unb64(ok(answer)["result"]["data"])) == ["global", "*", "rpc", "handler"]


# --- 4. failures ---

def test_a_raising_handler_is_internal_with_its_type_and_its_worker_keeps_serving(centrifugo):
    raised = rpc(centrifugo, "raise")
    assert raised["status"] == "INTERNAL", raised
    assert "ValueError" in raised["details"]
    pid = int(raised["details"].rsplit(" ", 1)[1])
    served_by = set()
    for _ in range(20):
        answer = rpc(centrifugo, "pid")
        served_by.add(json.loads(unb64(ok(answer)["result"]["data"]))["pid"])
        if pid in served_by:
            break
    assert pid in served_by


def test_a_handler_past_the_deadline_is_deadline_exceeded_and_its_late_answer_goes_nowhere(
        centrifugo):
    late = rpc(centrifugo, "sleep", {"seconds": 0.8}, timeout_ms=300)
    assert late["status"] == "DEADLINE_EXCEEDED", late
    assert late["elapsed_ms"] < 300 + 150
    calls = [{"method": "RPC", "metadata": CREDENTIALS, "timeout_ms": 5000,
              "request": {"method": "echo", "data": b64(json.dumps({"n": n}))}}
             for n in range(40)]
    for n, answer in enumerate(centrifugo.many(calls)):
        assert json.loads(unb64(ok(answer)["result"]["data"])) == {"n": n}


def test_a_worker_killed_mid_call_is_unavailable_before_the_deadline(centrifugo, proxy):
    answer = rpc(centrifugo, "die", timeout_ms=4000)
    assert answer["status"] == "UNAVAILABLE", answer
    assert "WorkerLost" in answer["details"]
    assert answer["elapsed_ms"] < 2000
    proxy.master.wait_ready()


# --- 5. bad input ---

def connect_ok(centrifugo) -> None:
    answer = centrifugo.call("Connect", {"client": "c1", "transport": "websocket",
                                         "protocol": "json", "encoding": "json",
                                         "data": b64('{"token": "t1"}')}, CREDENTIALS)
    ok(answer)


def status_counts(proxy) -> dict:
    from supervisor.ops.control import ControlClient

    with ControlClient(f"ipc://{proxy.run_root}/run/control.sock") as control:
        return control.call("status")


def test_a_malformed_protobuf_is_internal_and_never_reaches_the_pool(centrifugo, proxy):
    before = status_counts(proxy)["requests"]
    answer = centrifugo.command("raw", method="Connect", hex="ffffff", metadata=CREDENTIALS)
    assert answer["status"] == "INTERNAL", answer
    assert "deserializ" in answer["details"].lower()
    assert status_counts(proxy)["requests"] == before


def test_unknown_fields_are_accepted(centrifugo):
    from supervisor.centrifugo import protocol

    messages = protocol.load("proxy.proto").messages
    request = messages["RPCRequest"](method="echo", data=b'"x"').SerializeToString()
    unknown = bytes([0x98, 0x06, 0x01])  # field 99, varint 1
    answer = centrifugo.command("raw", method="RPC", hex=(request + unknown).hex(),
                                metadata=CREDENTIALS)
    assert answer["ok"], answer
    response = messages["RPCResponse"].FromString(bytes.fromhex(answer["hex"]))
    assert response.result.data == b'"x"'


@pytest.mark.parametrize("method", ["SubscribeUnidirectional", "SubscribeBidirectional"])
def test_streaming_methods_are_unimplemented(centrifugo, method):
    answer = centrifugo.command("stream", method=method, request={"channel": "s"},
                                metadata=CREDENTIALS)
    assert answer["status"] == "UNIMPLEMENTED", answer


@pytest.mark.parametrize("method", ["NotifyCacheEmpty", "NotifyChannelState", "MapPublish",
                                    "MapRemove", "SharedPollRefresh"])
def test_pro_and_experimental_methods_are_unimplemented(centrifugo, method):
    assert centrifugo.call(method, {}, CREDENTIALS)["status"] == "UNIMPLEMENTED"


@pytest.mark.parametrize("metadata", [{}, {"x-proxy-token": "wrong"},
                                      {"x-proxy-token-bin": b64("s3cret-token")}])
def test_missing_or_wrong_credentials_are_unauthenticated(centrifugo, metadata):
    answer = centrifugo.call("RPC", {"method": "echo"}, metadata)
    assert answer["status"] == "UNAUTHENTICATED", answer


def test_a_wrong_return_type_is_internal_naming_the_type(centrifugo):
    answer = rpc(centrifugo, "wrong")
    assert answer["status"] == "INTERNAL", answer
    assert "returned int" in answer["details"]
    assert "RPCResult" in answer["details"]


# --- 6. concurrency ---

def test_200_concurrent_calls_each_get_their_own_answer(centrifugo):
    calls = [{"method": "RPC", "metadata": CREDENTIALS, "timeout_ms": 20000,
              "request": {"method": "echo", "client": f"c{n}",
                          "data": b64(json.dumps({"n": n, "pad": "x" * (n % 17)}))}}
             for n in range(200)]
    answers = centrifugo.many(calls)
    for n, answer in enumerate(answers):
        assert json.loads(unb64(ok(answer)["result"]["data"])) == {"n": n, "pad": "x" * (n % 17)}


# --- operations ---

def test_status_shows_the_address_state_and_calls_per_event(centrifugo, proxy):
    from tests.support import wait_until

    connect_ok(centrifugo)
    rpc(centrifugo, "echo")
    assert rpc(centrifugo, "raise")["status"] == "INTERNAL"
    assert centrifugo.call("RPC", {"method": "echo"}, {})["status"] == "UNAUTHENTICATED"
    section = wait_until(lambda: (s := status_counts(proxy)["centrifugo"])["calls"].get(
        "rpc", {}).keys() >= {"OK", "INTERNAL", "UNAUTHENTICATED"} and "connect" in s["calls"]
        and s)
    assert section["address"] == f"tcp://{proxy.target}"
    assert section["state"] == "serving"
    assert section["calls"]["connect"]["OK"] >= 1
    assert section["calls"]["rpc"]["INTERNAL"] >= 1
    assert section["calls"]["rpc"]["UNAUTHENTICATED"] >= 1


def test_status_text_and_metrics_count_calls_per_event_and_status(centrifugo, proxy):
    import urllib.request

    from supervisor.cli.render import status_text
    from tests.support import wait_until

    connect_ok(centrifugo)
    rpc(centrifugo, "fail")
    status = wait_until(lambda: (s := status_counts(proxy))["centrifugo"]["calls"].get(
        "rpc", {}).get("OK", 0) >= 1 and "connect" in s["centrifugo"]["calls"] and s)
    text = status_text(status)
    assert f"centrifugo serving on tcp://{proxy.target}" in text
    assert re.search(r"^ +rpc: .*\d+ OK", text, re.MULTILINE), text
    with urllib.request.urlopen(status["metrics"], timeout=5) as reply:
        scraped = reply.read().decode()
    assert re.search(r'^supervisor_centrifugo_calls_total\{event="rpc",status="OK"\} [1-9]',
                     scraped, re.MULTILINE), scraped[-2000:]
    assert 'supervisor_centrifugo_calls_total{event="connect",status="OK"}' in scraped



def test_a_call_past_its_deadline_is_counted_once(centrifugo, proxy):
    from tests.support import wait_until

    def rpc_counts() -> dict:
        return status_counts(proxy)["centrifugo"]["calls"].get("rpc", {})

    done = rpc_counts().get("OK", 0)
    ok(rpc(centrifugo, "echo"))
    before = wait_until(lambda: (c := rpc_counts()).get("OK", 0) > done and c)  # all reported
    late = rpc(centrifugo, "sleep", {"seconds": 0.8}, timeout_ms=300)
    assert late["status"] == "DEADLINE_EXCEEDED", late
    after = wait_until(lambda: sum((c := rpc_counts()).values()) > sum(before.values()) and c)
    grown = {status: n - before.get(status, 0) for status, n in after.items()
             if n != before.get(status, 0)}
    assert grown in ({"DEADLINE_EXCEEDED": 1}, {"CANCELLED": 1}), grown
