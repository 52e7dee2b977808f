"""Lease-bound registration of a process (`/fed/members/proxies/<id>`,
`/fed/members/workers/<id>`).

The record lives as long as the process keeps its lease alive: a killed process drops
out of the registry within the lease TTL, with nobody having to clean up after it.
"""

from __future__ import annotations

import logging

from google.protobuf.timestamp_pb2 import Timestamp

from common.etcd_store import EtcdStore, Lease
from fed.v1 import types_pb2

_log = logging.getLogger(__name__)


class Registration:
    """A member record kept under a lease; `update` republishes it (load, address)."""

    def __init__(self, store: EtcdStore, key: str, record: types_pb2.MemberRecord, lease: Lease):
        self.key = key
        self.record = record
        self.lease = lease
        self._store = store

    @classmethod
    async def register(
        cls, store: EtcdStore, key: str, record: types_pb2.MemberRecord, ttl_s: int
    ) -> Registration:
        if not record.HasField("started_at"):
            started = Timestamp()
            started.GetCurrentTime()
            record.started_at.CopyFrom(started)
        lease = await store.grant_lease(ttl_s)
        await store.put(key, record.SerializeToString(), lease=lease.id)
        _log.info("registered", extra={"key": key, "address": record.address})
        return cls(store, key, record, lease)

    async def update(self, record: types_pb2.MemberRecord) -> None:
        self.record = record
        await self._store.put(self.key, record.SerializeToString(), lease=self.lease.id)

    async def deregister(self) -> None:
        """Revoke the lease: the record disappears at once."""
        await self.lease.revoke()
        _log.info("deregistered", extra={"key": self.key})
