"""Echo: the smallest handler, used to check that the pool answers."""

from supervisor import Payload


def echo(payload: Payload) -> bytes:
    return payload.body
