"""The etcd access layer's value types: keys read, ops written, compares and watch events.

Compiled with mypyc (tools/native.py): the leader's writer stages a few ops per request and
its cache takes a few watch events back per request, so each of these is built thousands of
times a second. They follow the engine's value-type pattern: dataclasses with Final fields
(read-only once compiled) and a hand-written constructor, about a tenth of the cost of a
frozen dataclass. common.etcd_store re-exports them; import them from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, Literal

CompareTarget = Literal["create", "mod", "version", "value"]
CompareOp = Literal["==", "!=", "<", ">"]


@dataclass(init=False, unsafe_hash=True)
class KeyValue:
    key: Final[str]
    value: Final[bytes]
    create_revision: Final[int]
    mod_revision: Final[int]
    version: Final[int]
    lease: Final[int]

    def __init__(
        self,
        key: str,
        value: bytes,
        create_revision: int,
        mod_revision: int,
        version: int,
        lease: int,
    ) -> None:
        self.key = key
        self.value = value
        self.create_revision = create_revision
        self.mod_revision = mod_revision
        self.version = version
        self.lease = lease


@dataclass(init=False, unsafe_hash=True)
class Put:
    key: Final[str]
    value: Final[bytes]
    lease: Final[int]

    def __init__(self, key: str, value: bytes, lease: int = 0) -> None:
        self.key = key
        self.value = value
        self.lease = lease


@dataclass(init=False, unsafe_hash=True)
class Delete:
    key: Final[str]
    prefix: Final[bool]

    def __init__(self, key: str, prefix: bool = False) -> None:
        self.key = key
        self.prefix = prefix


Op = Put | Delete


@dataclass(init=False, unsafe_hash=True)
class Compare:
    key: Final[str]
    target: Final[CompareTarget]
    op: Final[CompareOp]
    operand: Final[int | bytes]

    def __init__(
        self, key: str, target: CompareTarget, op: CompareOp, operand: int | bytes
    ) -> None:
        self.key = key
        self.target = target
        self.op = op
        self.operand = operand

    @classmethod
    def absent(cls, key: str) -> Compare:
        return cls(key, "create", "==", 0)


OP_FRAMING = 16
"""Bytes an op or a compare adds to a transaction besides its key and value (an over-estimate:
field tags, lengths, a lease id, the nested messages' headers)."""


def op_bytes(op: Op | Compare) -> int:
    """What `op` adds to the size of a transaction request (etcd refuses a request over its
    --max-request-bytes; keys are ASCII)."""
    if isinstance(op, Put):
        return len(op.key) + len(op.value) + OP_FRAMING
    if isinstance(op, Compare) and isinstance(op.operand, bytes):
        return len(op.key) + len(op.operand) + OP_FRAMING
    return len(op.key) + OP_FRAMING


class EventType(Enum):
    PUT = "put"
    DELETE = "delete"


@dataclass(init=False, unsafe_hash=True)
class WatchEvent:
    type: Final[EventType]
    kv: Final[KeyValue]

    def __init__(self, type: EventType, kv: KeyValue) -> None:
        self.type = type
        self.kv = kv


def key_value(raw: Any) -> KeyValue:
    """A KeyValue from etcd's protobuf mvccpb.KeyValue."""
    return _key_value(raw, raw.key)


def _key_value(raw: Any, key: bytes) -> KeyValue:
    return KeyValue(
        key.decode(),
        raw.value,
        raw.create_revision,
        raw.mod_revision,
        raw.version,
        raw.lease,
    )


def watch_events(raw_events: Any, ignore: tuple[bytes, ...]) -> list[WatchEvent]:
    """WatchEvents from etcd's protobuf mvccpb.Events (type 1 is a delete), leaving out the
    keys under an `ignore` prefix before anything else of them is read."""
    events: list[WatchEvent] = []
    for raw in raw_events:
        kv = raw.kv
        key: bytes = kv.key
        if ignore and key.startswith(ignore):
            continue
        kind = EventType.DELETE if raw.type == 1 else EventType.PUT
        events.append(WatchEvent(kind, _key_value(kv, key)))
    return events
