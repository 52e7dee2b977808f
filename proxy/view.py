"""The decoded state under `/fed`, and how one etcd change applies to it.

Synchronous and compiled (tools/native.py): the leader's cache takes its own writes back from
the watch, a few records per placement, so applying one is on the hot path. Following the
watch, subscribers and read-your-writes live in proxy.cache.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from google.protobuf.message import Message

from common.etcd_store import KeyValue
from common.keys import Keys
from fed.v1 import types_pb2
from proxy.known_records import KnownRecords
from proxy.workload_order import WorkloadOrder

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
    workload_order: WorkloadOrder = field(default_factory=WorkloadOrder)
    """The keys of `workloads` in order (for paged listing)."""
    reservations: dict[str, dict[str, types_pb2.Reservation]] = field(default_factory=dict)
    proxies: dict[str, types_pb2.MemberRecord] = field(default_factory=dict)
    workers: dict[str, types_pb2.MemberRecord] = field(default_factory=dict)
    assignments: dict[str, types_pb2.Assignment] = field(default_factory=dict)
    operations: dict[str, types_pb2.Operation] = field(default_factory=dict)
    candidates: dict[str, LeaderEntry] = field(default_factory=dict)
    cluster_changes: int = 0
    """How many cluster records have changed in this view (a snapshot of the fleet stays
    valid while it is the same)."""
    member_changes: int = 0
    """How many worker and assignment records have changed in this view (who serves which
    cluster stays the same while it is the same)."""

    @property
    def leader(self) -> LeaderEntry | None:
        """The candidate with the lowest create revision leads."""
        if not self.candidates:
            return None
        return min(self.candidates.values(), key=lambda entry: entry.epoch)


class ViewUpdater:
    """Applies etcd changes to a FedView, by key prefix. A put the leader's writer staged
    reuses its record (see proxy.known_records) instead of decoding the bytes again."""

    def __init__(self, keys: Keys, known: KnownRecords) -> None:
        self.view = FedView()
        self._keys = keys
        self._known = known
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

    def reset(self, keep_written: bool = False) -> None:
        """Start from an empty view (a resync lists everything again). With `keep_written`
        the writer's records stay: a resync of the shared range only (see proxy.cache)."""
        before = self.view
        self.view = FedView()
        self._known.clear()
        if keep_written:
            self.view.workloads = before.workloads
            self.view.workload_order = before.workload_order
            self.view.reservations = before.reservations

    def apply(self, kv: KeyValue, deleted: bool) -> None:
        """Apply one put or delete; raises DecodeError or InvalidKey for a bad record."""
        for prefix, handler in self._handlers:
            if kv.key.startswith(prefix):
                handler(kv, deleted)
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
        self.view.member_changes += 1
        self._put_or_pop(self.view.workers, name, kv, deleted, types_pb2.MemberRecord)

    def _apply_assignment(self, kv: KeyValue, deleted: bool) -> None:
        name = self._keys.last_segment(kv.key, self._keys.assignments_prefix())
        self.view.member_changes += 1
        self._put_or_pop(self.view.assignments, name, kv, deleted, types_pb2.Assignment)

    def _apply_operation(self, kv: KeyValue, deleted: bool) -> None:
        name = self._keys.last_segment(kv.key, self._keys.operations_prefix())
        self._put_or_pop(self.view.operations, name, kv, deleted, types_pb2.Operation)

    def _apply_workload(self, kv: KeyValue, deleted: bool) -> None:
        name = self._keys.parse_workload_key(kv.key)
        held = name in self.view.workloads
        if held and deleted:
            self.view.workload_order.remove(name)
        elif not held and not deleted:
            self.view.workload_order.add(name)
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
        if deleted:
            self._known.forget(kv.key)
            table.pop(name, None)
            return
        known = self._known.take(kv.key, kv.value, kind)
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
