"""Protobuf messages to plain dicts and back, driven by the descriptors.

Between the gRPC helper and the workers a message travels as JSON, so bytes fields are
base64 text there (`binary=False`); the API client hands results to Python code as they
are (`binary=True`). Reading a dict is strict: an unknown key or a value of the wrong
type is a `CodecError` naming the field path, never a half-filled message.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

_INTEGERS = frozenset((FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64,
                       FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_UINT64,
                       FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64,
                       FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_FIXED64,
                       FieldDescriptor.TYPE_SFIXED32, FieldDescriptor.TYPE_SFIXED64))
_FLOATS = frozenset((FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT))


class CodecError(ValueError):
    """A dict that does not fit the message; the text names the field path."""


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _is_repeated(field: FieldDescriptor) -> bool:
    repeated = getattr(field, "is_repeated", None)  # protobuf >= 6; `label` is gone in 7
    return field.label == FieldDescriptor.LABEL_REPEATED if repeated is None else repeated


def to_dict(message: Any, binary: bool = False) -> dict[str, Any]:
    """The fields set in `message` (proto3 defaults left out), by their proto names."""
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        if _is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            out[field.name] = {k: _value_out(value_field, v, binary) for k, v in value.items()}
        elif _is_repeated(field):
            out[field.name] = [_value_out(field, v, binary) for v in value]
        else:
            out[field.name] = _value_out(field, value, binary)
    return out


def _value_out(field: FieldDescriptor, value: Any, binary: bool) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return to_dict(value, binary)
    if field.type == FieldDescriptor.TYPE_BYTES and not binary:
        return base64.b64encode(value).decode("ascii")
    return value


def from_dict(cls: type, data: Any, binary: bool = False, path: str = "") -> Any:
    """A new `cls` message from `data`; raise CodecError on anything that does not fit."""
    message = cls()
    fill(message, data, binary, path)
    return message


def fill(message: Any, data: Any, binary: bool = False, path: str = "") -> None:
    """Set `message`'s fields from the dict `data`."""
    if not isinstance(data, dict):
        raise CodecError(f"{path or message.DESCRIPTOR.name}: expected an object, "
                         f"got {type(data).__name__}")
    fields = message.DESCRIPTOR.fields_by_name
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        field = fields.get(key)
        if field is None:
            raise CodecError(f"{where}: unknown field of {message.DESCRIPTOR.name}")
        if value is None:
            continue
        if _is_map(field):
            if not isinstance(value, dict):
                raise CodecError(f"{where}: expected an object")
            value_field = field.message_type.fields_by_name["value"]
            target = getattr(message, key)
            for map_key, item in value.items():
                if not isinstance(map_key, str) or not _utf8(map_key, where):
                    raise CodecError(f"{where}: keys must be strings")
                if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                    fill(target[map_key], item, binary, f"{where}.{map_key}")
                else:
                    target[map_key] = _value_in(value_field, item, binary, f"{where}.{map_key}")
        elif _is_repeated(field):
            if not isinstance(value, list):
                raise CodecError(f"{where}: expected a list")
            target = getattr(message, key)
            for index, item in enumerate(value):
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    fill(target.add(), item, binary, f"{where}[{index}]")
                else:
                    target.append(_value_in(field, item, binary, f"{where}[{index}]"))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            fill(getattr(message, key), value, binary, where)
            getattr(message, key).SetInParent()
        else:
            setattr(message, key, _value_in(field, value, binary, where))


def _value_in(field: FieldDescriptor, value: Any, binary: bool, where: str) -> Any:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        ok = isinstance(value, str) and _utf8(value, where)
    elif kind == FieldDescriptor.TYPE_BOOL:
        ok = isinstance(value, bool)
    elif kind in _INTEGERS:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind in _FLOATS:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind == FieldDescriptor.TYPE_BYTES:
        if binary:
            ok = isinstance(value, bytes | bytearray)
        else:
            try:
                return base64.b64decode(value, validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise CodecError(f"{where}: expected base64 text") from None
    else:
        raise CodecError(f"{where}: unsupported field type {kind}")
    if not ok:
        raise CodecError(f"{where}: expected {_TYPE_NAMES.get(kind, 'a number')}, "
                         f"got {type(value).__name__}")
    if kind in _INTEGERS and not _fits(field, value):
        raise CodecError(f"{where}: {value} is out of range")
    return value


def _utf8(text: str, where: str) -> bool:
    """JSON may carry lone surrogates, which a proto string cannot."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CodecError(f"{where}: text that is not valid Unicode") from None
    return True


_TYPE_NAMES = {FieldDescriptor.TYPE_STRING: "a string", FieldDescriptor.TYPE_BOOL: "a boolean",
               FieldDescriptor.TYPE_BYTES: "bytes"}
_BITS = {FieldDescriptor.CPPTYPE_INT32: (-(1 << 31), (1 << 31) - 1),
         FieldDescriptor.CPPTYPE_INT64: (-(1 << 63), (1 << 63) - 1),
         FieldDescriptor.CPPTYPE_UINT32: (0, (1 << 32) - 1),
         FieldDescriptor.CPPTYPE_UINT64: (0, (1 << 64) - 1)}


def _fits(field: FieldDescriptor, value: int) -> bool:
    low, high = _BITS[field.cpp_type]
    return low <= value <= high
