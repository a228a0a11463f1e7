"""A chunk on the worker: each body is its own handler call with its own result or error."""

from __future__ import annotations

import json

from supervisor import wire
from supervisor.worker.runner import Runner

_SEEN: list = []


def _record(payload):
    """Echo the body; note the context each call got, and change it (the next must not see it)."""
    _SEEN.append((payload.body, dict(payload.context), id(payload.context)))
    payload.context["touched"] = True
    return payload.body


def _picky(payload):
    if payload.body.startswith(b"!"):
        raise ValueError(f"refused {payload.body.decode()}")
    return payload.body


def _typed(payload):
    return {b"s": "text", b"n": None, b"d": {"k": 1}, b"a": bytearray(b"ba"),
            b"x": {1, 2}}[payload.body]


def _run(handler, bodies, context=b"", max_answer=1 << 20):
    runner = Runner(None, {"h": handler}, 7, None, None, max_answer)
    job = wire.job(1, wire.request(wire.CHUNK, 1, b"h", wire.pack_bodies(bodies), 0, context))
    _, _, name, ctx, start = wire.parse_job(job)
    return wire.unpack_answers(runner._chunk(name, job, start, ctx))


def test_each_body_is_one_call_with_a_fresh_context():
    _SEEN.clear()
    statuses, answers = _run(_record, [b"a", b"b", b"c"], b'{"user": "u"}')
    assert answers == [b"a", b"b", b"c"] and statuses == bytes(3)
    assert [(body, context) for body, context, _ in _SEEN] == \
        [(b, {"user": "u"}) for b in (b"a", b"b", b"c")]
    _SEEN.clear()
    _run(_record, [b"a", b"b"])
    assert [context for _, context, _ in _SEEN] == [{}, {}]


def test_failures_keep_their_places_and_the_other_bodies_still_run():
    bodies = [b"!first", b"ok1", b"!mid", b"!next", b"ok2", b"!last"]
    statuses, answers = _run(_picky, bodies)
    assert list(statuses) == [1, 0, 1, 1, 0, 1]
    assert answers[1] == b"ok1" and answers[4] == b"ok2"
    errors = [json.loads(answers[i]) for i in (0, 2, 3, 5)]
    assert [e["message"] for e in errors] == ["refused !first", "refused !mid", "refused !next",
                                              "refused !last"]
    assert {(e["code"], e["type"], e["worker"]) for e in errors} == {("HandlerError",
                                                                      "ValueError", 7)}
    assert all("_picky" in e["traceback"] for e in errors)


def test_results_that_are_not_bytes_are_encoded_and_an_unencodable_one_fails_alone():
    statuses, answers = _run(_typed, [b"s", b"n", b"x", b"d", b"a"])
    assert list(statuses) == [0, 0, 1, 0, 0]
    assert answers[:2] == [b"text", b""] and answers[3:] == [b'{"k":1}', b"ba"]
    assert json.loads(answers[2])["type"] == "TypeError"


def test_answers_past_the_message_size_are_result_too_large_in_order():
    statuses, answers = _run(_picky, [b"x" * 40] * 4, max_answer=100)
    assert list(statuses) == [0, 0, 1, 1]  # 2 * (40 + 5) fit in 100, the third does not
    assert all(json.loads(a)["type"] == "ResultTooLarge" for a in answers[2:])
