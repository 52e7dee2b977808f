"""Exactly-once by request_id: the answers of mutating calls, kept in etcd with a TTL.

A record is written in the same fenced transaction as the effect it answers for, so an
acknowledged answer and its effect are committed together. The same request_id with a
different request is refused rather than silently answered with another call's result.
Records hang off a lease that is rotated, not kept alive, so they expire after the TTL.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from common.etcd_store import EtcdStore, Lease, Put
from common.keys import Keys
from fed.v1 import types_pb2


class RequestIdReused(Exception):
    """The request_id was seen with a different request."""


def digest(method: str, request: Message) -> bytes:
    return hashlib.sha256(method.encode() + request.SerializeToString(deterministic=True)).digest()


@dataclass(frozen=True)
class Call:
    request_id: str
    method: str
    digest: bytes

    def fields(self) -> tuple[str, str, bytes]:
        return self.request_id, self.method, self.digest


def _matching(request_id: str, method: str, request_digest: bytes, value: bytes) -> bytes:
    record = types_pb2.RequestRecord.FromString(value)
    if record.method != method or record.request_digest != request_digest:
        raise RequestIdReused(
            f"request_id {request_id!r} was already used for a different {record.method}"
        )
    return record.response


@dataclass
class _RotatingLease:
    lease: Lease
    granted_at: float


class RequestLog:
    def __init__(self, store: EtcdStore, keys: Keys, ttl_s: int) -> None:
        self._store = store
        self._keys = keys
        self._ttl_s = ttl_s
        self._current: _RotatingLease | None = None

    async def answer(self, request_id: str, method: str, request_digest: bytes) -> bytes | None:
        """The recorded response bytes for this request, or None if it has none yet."""
        kv = await self._store.get(self._keys.request(request_id))
        return None if kv is None else _matching(request_id, method, request_digest, kv.value)

    async def answers(self, calls: Sequence[Call]) -> list[bytes | RequestIdReused | None]:
        """`answer` for many calls in one round trip; a reused id comes back as the error."""
        found = await self._store.get_many([self._keys.request(c.request_id) for c in calls])
        results: list[bytes | RequestIdReused | None] = []
        for call in calls:
            kv = found.get(self._keys.request(call.request_id))
            try:
                results.append(
                    None
                    if kv is None
                    else _matching(call.request_id, call.method, call.digest, kv.value)
                )
            except RequestIdReused as error:
                results.append(error)
        return results

    def record(
        self,
        request_id: str,
        method: str,
        request_digest: bytes,
        response: Message,
        created: Timestamp | None = None,
    ) -> Put:
        """The Put that records `response`; commit it with the effect it answers for.
        `created` defaults to now (a batch passes the one time it stamps its records with).

        Call `refresh_lease` first (once per batch is enough).
        """
        if self._current is None:
            raise RuntimeError("RequestLog.refresh_lease() was not awaited")
        if created is None:
            created = Timestamp()
            created.GetCurrentTime()
        record = types_pb2.RequestRecord(
            request_id=request_id,
            method=method,
            request_digest=request_digest,
            response=response.SerializeToString(),
            created_at=created,
        )
        lease = self._current.lease
        return Put(self._keys.request(request_id), record.SerializeToString(), lease=lease.id)

    async def refresh_lease(self) -> None:
        """Hold a lease granted within the last TTL/2, so records live TTL/2 to TTL."""
        now = time.monotonic()
        if self._current is None or now - self._current.granted_at > self._ttl_s / 2:
            lease = await self._store.grant_lease(self._ttl_s, keepalive=False)
            self._current = _RotatingLease(lease, now)
