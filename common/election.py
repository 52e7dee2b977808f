"""Leader election on etcd with fencing.

Each candidate puts a key `<prefix>/leader/<lease>` under its own lease; the key with the
lowest create_revision leads, and that create_revision is the leader's *epoch*. Every
leader write goes through `Leadership.txn`, one etcd transaction that compares the
epoch; a failed compare means leadership moved, and the leader steps down at once. A
leader also steps down when its lease keepalive has not been acknowledged for TTL minus
a safety margin: by then the server may already have expired the lease.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass

from common import metrics
from common.cancellation import cancel_and_wait
from common.etcd_store import (
    Compare,
    EtcdStore,
    EventType,
    Fence,
    FencedOut,
    KeyValue,
    Lease,
    Op,
    TxnResult,
)
from common.keys import Keys
from common.settings import ElectionSettings

_log = logging.getLogger(__name__)
_MONITOR_PERIOD_S = 0.1


class NotLeader(Exception):
    """A leader-only action was attempted without (or after losing) leadership."""


@dataclass(frozen=True, slots=True)
class LeaderInfo:
    key: str
    value: bytes
    epoch: int


class Leadership:
    """Held by the elected leader until it steps down, resigns or is fenced out."""

    def __init__(
        self, store: EtcdStore, lease: Lease, key: str, epoch: int, settings: ElectionSettings
    ) -> None:
        self.key = key
        self.epoch = epoch
        self.lease = lease
        self._store = store
        self._settings = settings
        self._lost = asyncio.Event()
        self.lost_reason = ""
        self._monitor = asyncio.create_task(self._watch_keepalive(), name="leadership-monitor")
        metrics.LEADER.set(1)
        metrics.LEADER_EPOCH.set(epoch)

    @property
    def fence(self) -> Fence:
        return Fence(self.key, self.epoch)

    @property
    def max_ops(self) -> int:
        """How many ops one fenced transaction can carry (the fence takes a slot)."""
        return max(1, self._store.max_txn_ops - 1)

    @property
    def max_bytes(self) -> int:
        """What the ops and compares of one fenced transaction may add up to (op_bytes)."""
        return self._store.max_txn_bytes

    @property
    def is_leader(self) -> bool:
        return not self._lost.is_set()

    async def wait_lost(self) -> str:
        """Return (with the reason) once leadership is lost."""
        await self._lost.wait()
        return self.lost_reason

    async def txn(
        self, ops: Sequence[Op], compares: Sequence[Compare] = (), *, at_most_once: bool = False
    ) -> TxnResult:
        """A fenced write. Raises NotLeader (and steps down) when the epoch is gone;
        `at_most_once` as for EtcdStore.txn."""
        if not self.is_leader:
            raise NotLeader(f"not the leader any more: {self.lost_reason}")
        try:
            return await self._store.fenced_txn(
                self.fence, ops, compares, at_most_once=at_most_once
            )
        except FencedOut as exc:
            self.step_down(f"fenced write rejected: {exc}")
            raise NotLeader(self.lost_reason) from exc

    def chunks(self, groups: Iterable[Sequence[Op]], reserved_bytes: int = 0) -> Iterator[list[Op]]:
        """Groups of ops in chunks of one fenced transaction each (EtcdStore.grouped_chunks)."""
        return self._store.grouped_chunks(groups, reserved_bytes)

    async def txn_chunked(self, ops: Sequence[Op]) -> list[TxnResult]:
        """A fenced write of many ops, in chunks of the server's max-txn-ops."""
        return [await self.txn(chunk) for chunk in self._store.chunks(ops)]

    def step_down(self, reason: str) -> None:
        if self._lost.is_set():
            return
        self.lost_reason = reason
        self._lost.set()
        metrics.LEADER.set(0)
        _log.warning("stepping down", extra={"epoch": self.epoch, "reason": reason})

    async def resign(self) -> None:
        """Give up leadership: the next candidate takes over without waiting for the TTL."""
        self.step_down("resigned")
        await self._stop_monitor()
        await self.lease.revoke()

    async def _stop_monitor(self) -> None:
        if self._monitor is not asyncio.current_task():
            await cancel_and_wait(self._monitor)

    async def _watch_keepalive(self) -> None:
        limit = self._settings.ttl_s - self._settings.safety_margin_s
        while not self._lost.is_set():
            if self.lease.expired.is_set():
                self.step_down("lease expired on the server")
                return
            age = self.lease.seconds_since_ack()
            metrics.LEASE_ACK_AGE.set(age)
            if age > limit:
                self.step_down(f"keepalive not acknowledged for {age:.1f} s (limit {limit:.1f} s)")
                return
            await asyncio.sleep(_MONITOR_PERIOD_S)


class Election:
    """Campaign for, observe and resign the leadership of one federation."""

    def __init__(
        self, store: EtcdStore, keys: Keys, settings: ElectionSettings, *, value: bytes
    ) -> None:
        self._store = store
        self._keys = keys
        self._settings = settings
        self._value = value

    async def campaign(self) -> Leadership:
        """Block until this candidate leads; returns its Leadership (epoch = create_revision)."""
        while True:
            lease = await self._store.grant_lease(self._settings.ttl_s)
            try:
                own = await self._enter(lease)
                if own is not None and await self._wait_until_first(own, lease):
                    _log.info("elected leader", extra={"epoch": own.create_revision})
                    return Leadership(
                        self._store, lease, own.key, own.create_revision, self._settings
                    )
            except BaseException:
                await asyncio.shield(lease.revoke())
                raise
            await lease.revoke()

    async def _enter(self, lease: Lease) -> KeyValue | None:
        key = self._keys.leader(lease.id)
        await self._store.put(key, self._value, lease=lease.id)
        return await self._store.get(key)

    async def _wait_until_first(self, own: KeyValue, lease: Lease) -> bool:
        """Wait for every earlier candidate to go; False if our own lease expired meanwhile."""
        while not lease.expired.is_set():
            candidates = (await self._store.range(self._keys.leader_prefix())).kvs
            if own.key not in {kv.key for kv in candidates}:
                return False
            earlier = [kv for kv in candidates if kv.create_revision < own.create_revision]
            if not earlier:
                return True
            predecessor = max(earlier, key=lambda kv: kv.create_revision)
            await self._wait_deleted(predecessor, lease)
        return False

    async def _wait_deleted(self, predecessor: KeyValue, lease: Lease) -> None:
        expired = asyncio.create_task(lease.expired.wait())
        gone = asyncio.create_task(self._deletion(predecessor))
        try:
            await asyncio.wait({expired, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(expired, gone)

    async def _deletion(self, predecessor: KeyValue) -> None:
        watch = self._store.watch_prefix(
            predecessor.key, start_revision=predecessor.mod_revision + 1
        )
        try:
            async for batch in watch:
                if batch.resynced and all(kv.key != predecessor.key for kv in batch.snapshot):
                    return
                if any(
                    e.type is EventType.DELETE and e.kv.key == predecessor.key for e in batch.events
                ):
                    return
        finally:
            await watch.aclose()

    async def observe(self) -> AsyncIterator[LeaderInfo | None]:
        """Yield the leader now and again whenever it changes (None while there is none)."""
        current: dict[str, KeyValue] = {}
        last: LeaderInfo | None = None
        first = True
        async for batch in self._store.watch_prefix(self._keys.leader_prefix()):
            if batch.resynced:
                current = {kv.key: kv for kv in batch.snapshot}
            for event in batch.events:
                if event.type is EventType.DELETE:
                    current.pop(event.kv.key, None)
                else:
                    current[event.kv.key] = event.kv
            leader = _first(list(current.values()))
            if first or leader != last:
                first = False
                last = leader
                yield leader


def _first(candidates: list[KeyValue]) -> LeaderInfo | None:
    if not candidates:
        return None
    winner = min(candidates, key=lambda kv: kv.create_revision)
    return LeaderInfo(winner.key, winner.value, winner.create_revision)
