"""Every proxy replica's local view of `/fed`, kept by one etcd watch.

Reads are answered from here without a round trip. The view is replaced wholesale when the
watch resyncs, so it never silently diverges from etcd. `wait_for_revision` lets a replica
answer read-your-writes after a write it forwarded to the leader. Request records (the
answers kept for exactly-once) are read from etcd when needed, so the watch drops them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from common.etcd_store import EtcdStore, EventType, KeyValue, WatchBatch
from common.keys import InvalidKey, Keys
from fed.v1 import types_pb2
from proxy.known_records import KnownRecords

_log = logging.getLogger(__name__)
K = TypeVar("K")
M = TypeVar("M", bound=Message)


@dataclass
class ClusterEntry:
    spec: types_pb2.ClusterSpec | None = None
    status: types_pb2.ClusterStatus | None = None
    health: types_pb2.ClusterHealthRecord | None = None


@dataclass
class LeaderEntry:
    key: str
    epoch: int
    record: types_pb2.LeaderRecord


@dataclass
class FedView:
    """The decoded state under the prefix at `revision`."""

    revision: int = 0
    clusters: dict[str, ClusterEntry] = field(default_factory=dict)
    workloads: dict[tuple[str, str], types_pb2.Workload] = field(default_factory=dict)
    reservations: dict[str, dict[str, types_pb2.Reservation]] = field(default_factory=dict)
    proxies: dict[str, types_pb2.MemberRecord] = field(default_factory=dict)
    workers: dict[str, types_pb2.MemberRecord] = field(default_factory=dict)
    assignments: dict[str, types_pb2.Assignment] = field(default_factory=dict)
    operations: dict[str, types_pb2.Operation] = field(default_factory=dict)
    candidates: dict[str, LeaderEntry] = field(default_factory=dict)
    cluster_changes: int = 0
    """How many cluster records have changed in this view (a snapshot of the fleet stays
    valid while it is the same)."""

    @property
    def leader(self) -> LeaderEntry | None:
        """The candidate with the lowest create revision leads."""
        if not self.candidates:
            return None
        return min(self.candidates.values(), key=lambda entry: entry.epoch)


@dataclass(frozen=True)
class Change:
    """One key that changed, for subscribers (a resync is reported as `resynced`)."""

    revision: int
    key: str
    deleted: bool = False
    resynced: bool = False


class FedCache:
    def __init__(self, store: EtcdStore, keys: Keys) -> None:
        self._store = store
        self._keys = keys
        self.keys = keys
        self.view = FedView()
        self.known = KnownRecords()
        """What the leader's writer is committing: events carrying it reuse its records."""
        self._advanced = asyncio.Condition()
        self._subscribers: dict[asyncio.Queue[Change], tuple[str, ...]] = {}
        self._task: asyncio.Task[None] | None = None
        self._handlers: list[tuple[str, Callable[[KeyValue, bool], None]]] = [
            (keys.reservations_prefix(), self._apply_reservation),  # the busiest first
            (keys.workloads_prefix(), self._apply_workload),
            (keys.clusters_prefix(), self._apply_cluster),
            (keys.operations_prefix(), self._apply_operation),
            (keys.assignments_prefix(), self._apply_assignment),
            (keys.workers_prefix(), self._apply_worker),
            (keys.proxies_prefix(), self._apply_proxy),
            (keys.leader_prefix(), self._apply_leader),
        ]

    async def start(self) -> None:
        """Start following etcd and return once the first full listing is in."""
        watch = self._store.watch_prefix(
            self._keys.prefix + "/", ignore=(self._keys.requests_prefix(),)
        )
        first = await anext(watch)
        self._apply(first)
        self._task = asyncio.create_task(self._follow(watch), name="fed-cache")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def revision(self) -> int:
        return self.view.revision

    async def wait_for_revision(self, revision: int, timeout_s: float) -> None:
        """Return once the view reflects `revision` (raises TimeoutError otherwise)."""
        async with asyncio.timeout(timeout_s), self._advanced:
            await self._advanced.wait_for(lambda: self.view.revision >= revision)

    def subscribe(self, *prefixes: str) -> asyncio.Queue[Change]:
        """A queue of the changes to keys under `prefixes` (every key when none is given),
        and of every resync. A subscriber that wants a few kinds of record is not woken by
        each of the leader's own writes."""
        queue: asyncio.Queue[Change] = asyncio.Queue()
        self._subscribers[queue] = prefixes
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Change]) -> None:
        self._subscribers.pop(queue, None)

    async def _follow(self, watch: AsyncGenerator[WatchBatch, None]) -> None:
        async for batch in watch:
            self._apply(batch)
            async with self._advanced:
                self._advanced.notify_all()

    def _apply(self, batch: WatchBatch) -> None:
        if batch.resynced:
            self.view = FedView()
            self.known.clear()
            for kv in batch.snapshot:
                self._dispatch(kv, deleted=False)
            self._publish(batch.revision, self._keys.prefix, resynced=True)
        for event in batch.events:
            deleted = event.type is EventType.DELETE
            self._dispatch(event.kv, deleted)
            self._publish(event.kv.mod_revision, event.kv.key, deleted)
        self.view.revision = max(self.view.revision, batch.revision)

    def _publish(
        self, revision: int, key: str, deleted: bool = False, resynced: bool = False
    ) -> None:
        """Queue the change for the subscribers that follow its key (built only if one does:
        most of the leader's own writes interest nobody)."""
        change: Change | None = None
        for queue, prefixes in self._subscribers.items():
            if not prefixes or resynced or key.startswith(prefixes):
                if change is None:
                    change = Change(revision, key, deleted, resynced)
                queue.put_nowait(change)

    def _dispatch(self, kv: KeyValue, deleted: bool) -> None:
        for prefix, handler in self._handlers:
            if kv.key.startswith(prefix):
                try:
                    handler(kv, deleted)
                except (DecodeError, InvalidKey) as exc:
                    _log.error("undecodable record", extra={"key": kv.key, "err": str(exc)})
                return

    def _apply_leader(self, kv: KeyValue, deleted: bool) -> None:
        if deleted:
            self.view.candidates.pop(kv.key, None)
            return
        record = _decode(types_pb2.LeaderRecord(), kv)
        self.view.candidates[kv.key] = LeaderEntry(kv.key, kv.create_revision, record)

    def _apply_proxy(self, kv: KeyValue, deleted: bool) -> None:
        name = self._keys.last_segment(kv.key, self._keys.proxies_prefix())
        self._put_or_pop(self.view.proxies, name, kv, deleted, types_pb2.MemberRecord)

    def _apply_worker(self, kv: KeyValue, deleted: bool) -> None:
        name = self._keys.last_segment(kv.key, self._keys.workers_prefix())
        self._put_or_pop(self.view.workers, name, kv, deleted, types_pb2.MemberRecord)

    def _apply_assignment(self, kv: KeyValue, deleted: bool) -> None:
        name = self._keys.last_segment(kv.key, self._keys.assignments_prefix())
        self._put_or_pop(self.view.assignments, name, kv, deleted, types_pb2.Assignment)

    def _apply_operation(self, kv: KeyValue, deleted: bool) -> None:
        name = self._keys.last_segment(kv.key, self._keys.operations_prefix())
        self._put_or_pop(self.view.operations, name, kv, deleted, types_pb2.Operation)

    def _apply_workload(self, kv: KeyValue, deleted: bool) -> None:
        name = self._keys.parse_workload_key(kv.key)
        self._put_or_pop(self.view.workloads, name, kv, deleted, types_pb2.Workload)

    def _apply_reservation(self, kv: KeyValue, deleted: bool) -> None:
        cluster, reservation_id = self._keys.parse_reservation_key(kv.key)
        per_cluster = self.view.reservations.setdefault(cluster, {})
        self._put_or_pop(per_cluster, reservation_id, kv, deleted, types_pb2.Reservation)
        if not per_cluster:
            del self.view.reservations[cluster]

    def _put_or_pop(
        self, table: dict[K, M], name: K, kv: KeyValue, deleted: bool, kind: type[M]
    ) -> None:
        """Apply a put or delete to the table; a put the leader's writer staged reuses its
        record (see proxy.known_records)."""
        if deleted:
            self.known.forget(kv.key)
            table.pop(name, None)
            return
        known = self.known.take(kv.key, kv.value, kind)
        table[name] = known if known is not None else _decode(kind(), kv)

    def _apply_cluster(self, kv: KeyValue, deleted: bool) -> None:
        name, part = self._keys.parse_cluster_key(kv.key)
        self.view.cluster_changes += 1
        entry = self.view.clusters.setdefault(name, ClusterEntry())
        if part == "spec":
            entry.spec = None if deleted else _decode(types_pb2.ClusterSpec(), kv)
        elif part == "status":
            entry.status = None if deleted else _decode(types_pb2.ClusterStatus(), kv)
        elif part == "health":
            entry.health = None if deleted else _decode(types_pb2.ClusterHealthRecord(), kv)
        if entry.spec is None and entry.status is None and entry.health is None:
            del self.view.clusters[name]


def _decode(message: M, kv: KeyValue) -> M:
    message.ParseFromString(kv.value)
    return message
