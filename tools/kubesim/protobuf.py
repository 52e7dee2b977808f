"""Decoding of the Kubernetes protobuf envelope for the few request bodies kubectl's typed
clients send that kubesim understands (DeleteOptions, Namespace). Responses stay JSON, which
those clients also accept."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tools.kubesim.errors import ApiError

MAGIC = b"k8s\x00"
VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


@dataclass(frozen=True)
class Field:
    """One message field: its JSON name, its type and, for messages, its schema."""

    name: str
    kind: str  # string, bytes, int, bool, message, map
    schema: dict[int, Field] | None = None
    repeated: bool = False


TYPE_META = {1: Field("apiVersion", "string"), 2: Field("kind", "string")}
UNKNOWN = {
    1: Field("typeMeta", "message", TYPE_META),
    2: Field("raw", "bytes"),
    3: Field("contentEncoding", "string"),
    4: Field("contentType", "string"),
}
OBJECT_META = {
    1: Field("name", "string"),
    2: Field("generateName", "string"),
    3: Field("namespace", "string"),
    5: Field("uid", "string"),
    6: Field("resourceVersion", "string"),
    11: Field("labels", "map"),
    12: Field("annotations", "map"),
    14: Field("finalizers", "string", repeated=True),
}
PRECONDITIONS = {1: Field("uid", "string"), 2: Field("resourceVersion", "string")}
SCHEMAS: dict[str, dict[int, Field]] = {
    "DeleteOptions": {
        1: Field("gracePeriodSeconds", "int"),
        2: Field("preconditions", "message", PRECONDITIONS),
        3: Field("orphanDependents", "bool"),
        4: Field("propagationPolicy", "string"),
        5: Field("dryRun", "string", repeated=True),
    },
    "Namespace": {
        1: Field("metadata", "message", OBJECT_META),
        2: Field("spec", "message", {1: Field("finalizers", "string", repeated=True)}),
    },
}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for every field of a message."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == VARINT:
            value, pos = _varint(data, pos)
        elif wire == LENGTH:
            size, pos = _varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
        elif wire in (FIXED64, FIXED32):
            width = 8 if wire == FIXED64 else 4
            value, pos = int.from_bytes(data[pos : pos + width], "little"), pos + width
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def _value(field: Field, raw: int | bytes) -> Any:
    if field.kind == "int":
        assert isinstance(raw, int)
        return raw - (1 << 64) if raw >= 1 << 63 else raw
    if field.kind == "bool":
        return bool(raw)
    assert isinstance(raw, bytes)
    if field.kind == "string":
        return raw.decode()
    if field.kind == "message":
        return decode_message(raw, field.schema or {})
    return raw


def decode_message(data: bytes, schema: dict[int, Field]) -> dict[str, Any]:
    """Decode a message with `schema`; fields the schema does not know are skipped."""
    out: dict[str, Any] = {}
    for number, _, raw in _fields(data):
        field = schema.get(number)
        if field is None:
            continue
        if field.kind == "map":
            assert isinstance(raw, bytes)
            entry = {n: v for n, _, v in _fields(raw)}
            key, value = entry.get(1, b""), entry.get(2, b"")
            assert isinstance(key, bytes) and isinstance(value, bytes)
            out.setdefault(field.name, {})[key.decode()] = value.decode()
        elif field.repeated:
            out.setdefault(field.name, []).append(_value(field, raw))
        else:
            out[field.name] = _value(field, raw)
    return out


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf request body; 415 for kinds kubesim cannot decode."""
    if not body.startswith(MAGIC):
        raise ApiError(415, "protobuf body without the Kubernetes envelope")
    try:
        envelope = decode_message(body[len(MAGIC) :], UNKNOWN)
        type_meta = envelope.get("typeMeta", {})
        schema = SCHEMAS.get(type_meta.get("kind", ""))
        if schema is None:
            raise ApiError(
                415,
                f"kubesim cannot decode protobuf {type_meta.get('kind')!r}; send application/json",
            )
        return {**type_meta, **decode_message(envelope.get("raw", b""), schema)}
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"invalid protobuf body: {exc}") from exc
