"""The project's own Centrifugo protocol definitions, loaded at run time with protobuf alone.

The `.proto` files beside this module use a small subset of proto3 (messages with scalar,
message, repeated and map fields, `reserved` numbers, unary services). This module reads
that subset into a `FileDescriptorProto`, so neither generated code (which pins the
protobuf release it was made with) nor the compiler is needed when the extra is
installed. A test checks that `protoc` reads the same files to the same descriptors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PROTO_DIR = Path(__file__).parent / "proto"
# The name each file has in a descriptor pool: its path from the repository root, as protoc
# run there would give it, so that it never clashes with another library's `api.proto`.
POOL_PREFIX = "supervisor/centrifugo/proto/"

_F = descriptor_pb2.FieldDescriptorProto
SCALARS = {
    "double": _F.TYPE_DOUBLE, "float": _F.TYPE_FLOAT, "int64": _F.TYPE_INT64,
    "uint64": _F.TYPE_UINT64, "int32": _F.TYPE_INT32, "fixed64": _F.TYPE_FIXED64,
    "fixed32": _F.TYPE_FIXED32, "bool": _F.TYPE_BOOL, "string": _F.TYPE_STRING,
    "bytes": _F.TYPE_BYTES, "uint32": _F.TYPE_UINT32, "sfixed32": _F.TYPE_SFIXED32,
    "sfixed64": _F.TYPE_SFIXED64, "sint32": _F.TYPE_SINT32, "sint64": _F.TYPE_SINT64,
}
_TOKEN = re.compile(r'\s+|//[^\n]*|/\*.*?\*/|("[^"]*"|[A-Za-z_][\w.]*|\d+|[{}();=<>,])', re.S)


class ProtoSyntaxError(ValueError):
    """The file uses something outside the subset this reader knows."""


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            line = text.count("\n", 0, pos) + 1
            raise ProtoSyntaxError(f"line {line}: unexpected {text[pos:pos + 20]!r}")
        if match.group(1):
            out.append(match.group(1))
        pos = match.end()
    return out


class _Reader:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise ProtoSyntaxError(f"expected {expected or 'more'}, got {token!r} "
                                   f"(token {self.pos})")
        self.pos += 1
        return token

    def number(self) -> int:
        token = self.take()
        if not token.isdigit():
            raise ProtoSyntaxError(f"expected a field number, got {token!r}")
        return int(token)


def json_name(name: str) -> str:
    """protoc's JSON name: each letter after an underscore upper-cased, underscores dropped."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _camel(name: str) -> str:
    """`push_tokens` -> `PushTokens` (the name protoc gives a map field's entry type)."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _field(name: str, number: int, type_name: str, package: str, repeated: bool) -> Any:
    field = _F(name=name, number=number, json_name=json_name(name),
               label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
    if type_name in SCALARS:
        field.type = SCALARS[type_name]
    else:
        field.type = _F.TYPE_MESSAGE
        field.type_name = type_name if type_name.startswith(".") else f".{package}.{type_name}"
    return field


def _message(reader: _Reader, package: str) -> Any:
    message = descriptor_pb2.DescriptorProto(name=reader.take())
    reader.take("{")
    while (token := reader.take()) != "}":
        if token == "reserved":
            while True:
                number = reader.number()
                message.reserved_range.add(start=number, end=number + 1)
                if reader.take() == ";":
                    break
        elif token == "map":
            reader.take("<")
            key = reader.take()
            reader.take(",")
            value = reader.take()
            reader.take(">")
            name = reader.take()
            reader.take("=")
            number = reader.number()
            reader.take(";")
            entry = message.nested_type.add(name=_camel(name) + "Entry")
            entry.options.map_entry = True
            entry.field.append(_field("key", 1, key, package, False))
            entry.field.append(_field("value", 2, value, package, False))
            message.field.append(_field(name, number, f".{package}.{message.name}.{entry.name}",
                                        package, True))
        else:
            repeated = token == "repeated"
            type_name = reader.take() if repeated else token
            name = reader.take()
            reader.take("=")
            number = reader.number()
            reader.take(";")
            message.field.append(_field(name, number, type_name, package, repeated))
    return message


def _service(reader: _Reader, package: str) -> Any:
    service = descriptor_pb2.ServiceDescriptorProto(name=reader.take())
    reader.take("{")
    while (token := reader.take()) != "}":
        if token != "rpc":
            raise ProtoSyntaxError(f"expected rpc in service {service.name}, got {token!r}")
        name = reader.take()
        reader.take("(")
        request = reader.take()
        reader.take(")")
        reader.take("returns")
        reader.take("(")
        response = reader.take()
        reader.take(")")
        if reader.take() == "{":
            reader.take("}")
        service.method.add(name=name, input_type=f".{package}.{request}",
                           output_type=f".{package}.{response}")
    return service


def parse(text: str, name: str) -> Any:
    """A `FileDescriptorProto` for the proto3 subset described in the module docstring."""
    reader = _Reader(_tokens(text))
    proto = descriptor_pb2.FileDescriptorProto(name=name, syntax="proto3")
    while (token := reader.peek()) is not None:
        reader.take()
        if token == "syntax":
            reader.take("=")
            if reader.take() != '"proto3"':
                raise ProtoSyntaxError("only proto3 is supported")
            reader.take(";")
        elif token == "package":
            proto.package = reader.take()
            reader.take(";")
        elif token == "message":
            proto.message_type.append(_message(reader, proto.package))
        elif token == "service":
            proto.service.append(_service(reader, proto.package))
        else:
            raise ProtoSyntaxError(f"unexpected {token!r} at the top level of {name}")
    return proto


@dataclass(frozen=True)
class Protocol:
    """One loaded file: its package, message classes by short name, and service methods."""

    package: str
    messages: dict[str, type]
    methods: dict[str, dict[str, tuple[type, type]]]

    def path(self, service: str, method: str) -> str:
        """The gRPC path of a method: `/package.Service/Method`."""
        return f"/{self.package}.{service}/{method}"


@cache
def load(file: str) -> Protocol:
    """Read `proto/<file>` into message classes in a pool of its own (once per process)."""
    proto = parse((PROTO_DIR / file).read_text(encoding="utf-8"), POOL_PREFIX + file)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    messages = {m.name: message_factory.GetMessageClass(
        pool.FindMessageTypeByName(f"{proto.package}.{m.name}")) for m in proto.message_type}
    methods = {s.name: {m.name: (messages[m.input_type.rsplit(".", 1)[1]],
                                 messages[m.output_type.rsplit(".", 1)[1]]) for m in s.method}
               for s in proto.service}
    return Protocol(proto.package, messages, methods)
