"""Records the leader's writer is committing, kept so that the cache need not decode them.

The writer stages each workload record and reservation as encoded bytes in a fenced
transaction; the etcd watch then brings the same bytes back to the leader's own cache.
Decoding them again would cost CPU on the hot path and keep a second copy of every record
the leader wrote. Instead the writer remembers (key, bytes, message) before the commit, and
the cache takes the message when an event carries exactly those bytes. Records are never
changed after they are staged (every change builds a new message), so sharing one is safe.
A write that failed or was superseded never matches; `clear` drops what a failed commit
left behind.
"""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import Message

M = TypeVar("M", bound=Message)


class KnownRecords:
    def __init__(self) -> None:
        self._known: dict[str, tuple[bytes, Message]] = {}

    def remember(self, key: str, value: bytes, record: Message) -> None:
        self._known[key] = (value, record)

    def take(self, key: str, value: bytes, kind: type[M]) -> M | None:
        """The remembered record if `value` is what was staged at `key` (forgotten either
        way: an event for the key settles it)."""
        known = self._known.pop(key, None)
        if known is None or known[0] != value:
            return None
        record = known[1]
        return record if isinstance(record, kind) else None

    def forget(self, key: str) -> None:
        self._known.pop(key, None)

    def clear(self) -> None:
        self._known.clear()

    def __len__(self) -> int:
        return len(self._known)
