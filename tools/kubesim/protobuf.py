"""Decoding of the Kubernetes protobuf envelope for the request bodies kubectl's typed clients
send (DeleteOptions, Namespace, Deployment, Pod: the fields kubectl sets). Responses stay
JSON, which those clients also accept.

Go encodes non-pointer scalars even when empty, so empty strings and zero numbers are
dropped (JSON `omitempty`), except for pointer fields marked `keep_zero`."""

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
    kind: str  # string, bytes, int, bool, message, map, quantity, intorstr
    schema: dict[int, Field] | None = None
    repeated: bool = False
    keep_zero: bool = False


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
QUANTITY = {1: Field("string", "string")}
INT_OR_STRING = {1: Field("type", "int"), 2: Field("intVal", "int"), 3: Field("strVal", "string")}
LABEL_SELECTOR = {
    1: Field("matchLabels", "map"),
    2: Field(
        "matchExpressions",
        "message",
        {
            1: Field("key", "string"),
            2: Field("operator", "string"),
            3: Field("values", "string", repeated=True),
        },
        repeated=True,
    ),
}
CONTAINER = {
    1: Field("name", "string"),
    2: Field("image", "string"),
    3: Field("command", "string", repeated=True),
    4: Field("args", "string", repeated=True),
    5: Field("workingDir", "string"),
    6: Field(
        "ports",
        "message",
        {
            1: Field("name", "string"),
            2: Field("hostPort", "int"),
            3: Field("containerPort", "int"),
            4: Field("protocol", "string"),
            5: Field("hostIP", "string"),
        },
        repeated=True,
    ),
    7: Field("env", "message", {1: Field("name", "string"), 2: Field("value", "string")}, True),
    8: Field(
        "resources",
        "message",
        {1: Field("limits", "quantity"), 2: Field("requests", "quantity")},
    ),
    13: Field("terminationMessagePath", "string"),
    14: Field("imagePullPolicy", "string"),
    16: Field("stdin", "bool"),
    17: Field("stdinOnce", "bool"),
    18: Field("tty", "bool"),
    20: Field("terminationMessagePolicy", "string"),
}
TOLERATION = {
    1: Field("key", "string"),
    2: Field("operator", "string"),
    3: Field("value", "string"),
    4: Field("effect", "string"),
    5: Field("tolerationSeconds", "int", keep_zero=True),
}
POD_SPEC = {
    2: Field("containers", "message", CONTAINER, repeated=True),
    3: Field("restartPolicy", "string"),
    4: Field("terminationGracePeriodSeconds", "int", keep_zero=True),
    5: Field("activeDeadlineSeconds", "int", keep_zero=True),
    6: Field("dnsPolicy", "string"),
    7: Field("nodeSelector", "map"),
    8: Field("serviceAccountName", "string"),
    10: Field("nodeName", "string"),
    11: Field("hostNetwork", "bool"),
    16: Field("hostname", "string"),
    17: Field("subdomain", "string"),
    19: Field("schedulerName", "string"),
    20: Field("initContainers", "message", CONTAINER, repeated=True),
    22: Field("tolerations", "message", TOLERATION, repeated=True),
    24: Field("priorityClassName", "string"),
}
POD_TEMPLATE = {1: Field("metadata", "message", OBJECT_META), 2: Field("spec", "message", POD_SPEC)}
DEPLOYMENT_SPEC = {
    1: Field("replicas", "int", keep_zero=True),
    2: Field("selector", "message", LABEL_SELECTOR),
    3: Field("template", "message", POD_TEMPLATE),
    4: Field(
        "strategy",
        "message",
        {
            1: Field("type", "string"),
            2: Field(
                "rollingUpdate",
                "message",
                {1: Field("maxUnavailable", "intorstr"), 2: Field("maxSurge", "intorstr")},
            ),
        },
    ),
    5: Field("minReadySeconds", "int"),
    6: Field("revisionHistoryLimit", "int", keep_zero=True),
    7: Field("paused", "bool"),
    9: Field("progressDeadlineSeconds", "int", keep_zero=True),
}
SCHEMAS: dict[str, dict[int, Field]] = {
    "DeleteOptions": {
        1: Field("gracePeriodSeconds", "int", keep_zero=True),
        2: Field("preconditions", "message", PRECONDITIONS),
        3: Field("orphanDependents", "bool"),
        4: Field("propagationPolicy", "string"),
        5: Field("dryRun", "string", repeated=True),
    },
    "Namespace": {
        1: Field("metadata", "message", OBJECT_META),
        2: Field("spec", "message", {1: Field("finalizers", "string", repeated=True)}),
    },
    "Deployment": {
        1: Field("metadata", "message", OBJECT_META),
        2: Field("spec", "message", DEPLOYMENT_SPEC),
    },
    "Pod": POD_TEMPLATE,
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
    if field.kind == "intorstr":
        value = decode_message(raw, INT_OR_STRING)
        return value.get("strVal", "") if value.get("type") == 1 else value.get("intVal", 0)
    return raw


def _map_entry(field: Field, raw: bytes) -> tuple[str, Any]:
    entry = {n: v for n, _, v in _fields(raw)}
    key, value = entry.get(1, b""), entry.get(2, b"")
    assert isinstance(key, bytes) and isinstance(value, bytes)
    if field.kind == "quantity":
        return key.decode(), decode_message(value, QUANTITY).get("string", "0")
    return key.decode(), value.decode()


def _empty(field: Field, value: Any) -> bool:
    return not field.keep_zero and value in ("", 0, False) and not isinstance(value, dict)


def decode_message(data: bytes, schema: dict[int, Field]) -> dict[str, Any]:
    """Decode a message with `schema`; fields the schema does not know are skipped."""
    out: dict[str, Any] = {}
    for number, _, raw in _fields(data):
        field = schema.get(number)
        if field is None:
            continue
        if field.kind in ("map", "quantity"):
            assert isinstance(raw, bytes)
            key, value = _map_entry(field, raw)
            out.setdefault(field.name, {})[key] = value
            continue
        value = _value(field, raw)
        if field.repeated:
            out.setdefault(field.name, []).append(value)
        elif not _empty(field, value):
            out[field.name] = value
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
