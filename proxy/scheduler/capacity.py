"""How many replicas of a shape fit on a cluster, without a round trip.

Two limits, the smaller wins:
- aggregate (invariant 2): foreign + reserved + new <= allocatable x overcommit, per dimension;
- node level: first-fit of every reservation's unmaterialised replicas, in the ledger's order,
  onto the status's node grades (ascending free capacity, so big nodes stay free), then what
  still fits per node.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from fed.v1 import types_pb2
from proxy.ledger import Ledger
from proxy.scheduler.model import ClusterView
from proxy.scheduler.resources import UNLIMITED, Quantity


@dataclass(init=False, unsafe_hash=True)
class Bucket:
    """`count` nodes with at least `free` capacity each."""

    free: Final[Quantity]
    count: Final[int]

    def __init__(self, free: Quantity, count: int) -> None:
        self.free = free
        self.count = count


MAX_BUCKETS = 16
"""Beyond this many distinct node grades, neighbours merge into their lower bound: the summary
stays small and only ever under-estimates free room."""


def _normalised(buckets: Iterable[Bucket]) -> tuple[Bucket, ...]:
    merged: dict[Quantity, int] = {}
    for bucket in buckets:
        if bucket.count > 0:
            merged[bucket.free] = merged.get(bucket.free, 0) + bucket.count
    ordered = [Bucket(free, merged[free]) for free in sorted(merged, key=Quantity.values)]
    while len(ordered) > MAX_BUCKETS:
        ordered = _halved(ordered)
    return tuple(ordered)


def _halved(ordered: list[Bucket]) -> list[Bucket]:
    """Merge neighbours pairwise (ascending order), each pair into its lower bound."""
    result = [
        Bucket(first.free.lower_bound(second.free), first.count + second.count)
        for first, second in zip(ordered[0::2], ordered[1::2], strict=False)
    ]
    if len(ordered) % 2:
        result.append(ordered[-1])
    return result


def first_fit(
    buckets: tuple[Bucket, ...], shape: Quantity, replicas: int
) -> tuple[tuple[Bucket, ...], int]:
    """Place replicas on the first nodes they fit; returns the new buckets and the count placed.

    The buckets are in the order a capacity keeps them (ascending, distinct: see _normalised).
    """
    on_one_node = _on_one_node(buckets, shape, replicas)
    if on_one_node is not None:
        return on_one_node, replicas
    result: list[Bucket] = []
    left = replicas
    for bucket in buckets:
        per_node = bucket.free.copies(shape) if left > 0 else 0
        if per_node == 0:
            result.append(bucket)
            continue
        full = min(bucket.count, left // per_node)
        left -= full * per_node
        result.append(Bucket(bucket.free - shape.times(per_node), full))
        rest = bucket.count - full
        if rest > 0 and left > 0:
            result.append(Bucket(bucket.free - shape.times(left), 1))
            left = 0
            rest -= 1
        result.append(Bucket(bucket.free, rest))
    return _normalised(result), replicas - left


def _on_one_node(
    buckets: tuple[Bucket, ...], shape: Quantity, replicas: int
) -> tuple[Bucket, ...] | None:
    """first_fit's result when every replica fits on one node of the first grade that takes
    the shape (most reservations): that node moves down to a lower grade and nothing else
    changes, so the order is kept by one insertion instead of a merge and a sort. None when
    the replicas need more than one node."""
    if replicas <= 0:
        return None
    for index, bucket in enumerate(buckets):
        per_node = bucket.free.copies(shape)
        if per_node == 0:
            continue
        if per_node < replicas:
            return None
        lower = bucket.free - shape.times(replicas)
        if lower == bucket.free:
            return None
        result = list(buckets[:index])
        _insert_node(result, lower)
        if bucket.count > 1:
            result.append(Bucket(bucket.free, bucket.count - 1))
        result.extend(buckets[index + 1 :])
        while len(result) > MAX_BUCKETS:
            result = _halved(result)
        return tuple(result)
    return None


def _insert_node(ordered: list[Bucket], free: Quantity) -> None:
    """Add one node with `free` to buckets in ascending order (joining an equal grade)."""
    key = free.values()
    position = len(ordered)
    while position > 0 and ordered[position - 1].free.values() > key:
        position -= 1
    if position > 0 and ordered[position - 1].free == free:
        ordered[position - 1] = Bucket(free, ordered[position - 1].count + 1)
    else:
        ordered.insert(position, Bucket(free, 1))


def unmaterialised(reservation: types_pb2.Reservation, status: types_pb2.ClusterStatus) -> int:
    """Replicas of a reservation that do not exist as pods yet (clamped at zero)."""
    return max(reservation.replicas - status.reservation_pods.get(reservation.id, 0), 0)


@dataclass(init=False, unsafe_hash=True)
class ClusterCapacity:
    """A cluster's room for new replicas: aggregate allowance and node-grade summary."""

    limit: Final[Quantity]
    allowance: Final[Quantity]
    reserved: Final[Quantity]
    buckets: Final[tuple[Bucket, ...] | None]
    _fits: dict[Quantity, int] = field(compare=False, repr=False)
    """Replicas that fit per shape (a cache)."""

    def __init__(
        self,
        limit: Quantity,
        allowance: Quantity,
        reserved: Quantity,
        buckets: tuple[Bucket, ...] | None,
    ) -> None:
        self.limit = limit
        self.allowance = allowance
        self.reserved = reserved
        self.buckets = buckets
        self._fits = {}

    @classmethod
    def build(
        cls,
        view: ClusterView,
        reservations: Iterable[types_pb2.Reservation],
        reserved: Quantity,
        default_overcommit: float,
    ) -> ClusterCapacity | None:
        """None when the cluster has published no status (its capacity is unknown)."""
        status = view.status
        if status is None:
            return None
        limit = Quantity.from_proto(status.allocatable).scaled(
            view.spec.overcommit or default_overcommit
        )
        allowance = limit - Quantity.from_proto(status.foreign_requested)
        return cls(limit, allowance, reserved, _grades(status, reservations))

    @property
    def headroom(self) -> Quantity:
        """What new reservations may still hold."""
        return self.allowance - self.reserved

    def aggregate_fit(self, shape: Quantity) -> int:
        return self.headroom.copies(shape)

    def node_fit(self, shape: Quantity) -> int:
        if self.buckets is None:
            return UNLIMITED
        total = 0
        for bucket in self.buckets:
            free = bucket.free
            if (
                free.cpu_millis >= shape.cpu_millis
                and free.memory_bytes >= shape.memory_bytes
                and free.gpu >= shape.gpu
                and free.pods >= shape.pods
            ):
                total += bucket.count * free.copies(shape)
        return total

    def max_replicas(self, shape: Quantity) -> int:
        """Replicas of shape that fit under both limits."""
        fits = self._fits.get(shape)
        if fits is None:
            fits = min(self.aggregate_fit(shape), self.node_fit(shape))
            self._fits[shape] = fits
        return fits

    def place(self, shape: Quantity, replicas: int) -> ClusterCapacity:
        """The capacity left after reserving replicas of shape here."""
        buckets = None if self.buckets is None else first_fit(self.buckets, shape, replicas)[0]
        return ClusterCapacity(
            self.limit, self.allowance, self.reserved + shape.times(replicas), buckets
        )


def _grades(
    status: types_pb2.ClusterStatus, reservations: Iterable[types_pb2.Reservation]
) -> tuple[Bucket, ...] | None:
    if not status.node_grades:
        return None
    buckets = _normalised(
        Bucket(
            Quantity(
                grade.free_cpu_millis, grade.free_memory_bytes, grade.free_gpu, grade.free_pods
            ),
            grade.count,
        )
        for grade in status.node_grades
    )
    for reservation in reservations:
        pending = unmaterialised(reservation, status)
        if pending:
            buckets, _ = first_fit(buckets, Quantity.shape(reservation.per_replica), pending)
    return buckets


def _same_capacity(
    before: types_pb2.ClusterStatus | None, after: types_pb2.ClusterStatus | None
) -> bool:
    """The status fields a capacity is built from are equal."""
    if before is None or after is None:
        return before is after
    return (
        before.allocatable == after.allocatable
        and before.foreign_requested == after.foreign_requested
        and before.node_grades == after.node_grades
        and before.reservation_pods == after.reservation_pods
    )


@dataclass
class _Cached:
    ledger: Ledger
    status: types_pb2.ClusterStatus | None
    spec: types_pb2.ClusterSpec
    generation: int
    capacity: ClusterCapacity | None


class CapacityCache:
    """Cluster capacities kept across scheduling cycles and advanced incrementally.

    A cached capacity stays valid while the cluster's status and spec give the same capacity;
    reservations added since are first-fitted onto the cached grades, exactly as a rebuild
    would (a build first-fits in the ledger's order, and new reservations come last). A
    resized or released reservation, a new status or an overflowing change log rebuilds it.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, float], _Cached] = {}

    def get(self, view: ClusterView, ledger: Ledger, overcommit: float) -> ClusterCapacity | None:
        key = (view.name, overcommit)
        generation = ledger.generation(view.name)
        cached = self._entries.get(key)
        if cached is not None and self._same_inputs(cached, view, ledger):
            if cached.generation == generation:
                return cached.capacity
            advanced = self._advance(cached, view, ledger)
            if advanced is not None:
                self._entries[key] = _Cached(ledger, view.status, view.spec, generation, advanced)
                return advanced
        capacity = ClusterCapacity.build(
            view, ledger.reservations(view.name).values(), ledger.reserved(view.name), overcommit
        )
        self._entries[key] = _Cached(ledger, view.status, view.spec, generation, capacity)
        return capacity

    @staticmethod
    def _same_inputs(cached: _Cached, view: ClusterView, ledger: Ledger) -> bool:
        """Same ledger, and a spec and status that give the same capacity: a heartbeat that
        changes only the time or the health figures does not cost a rebuild."""
        if cached.ledger is not ledger:
            return False
        if cached.spec is not view.spec and cached.spec.overcommit != view.spec.overcommit:
            return False
        return cached.status is view.status or _same_capacity(cached.status, view.status)

    @staticmethod
    def _advance(cached: _Cached, view: ClusterView, ledger: Ledger) -> ClusterCapacity | None:
        capacity, status = cached.capacity, view.status
        changes = ledger.changes_since(view.name, cached.generation)
        if capacity is None or status is None or changes is None:
            return None
        buckets = capacity.buckets
        for before, after in changes:
            if before is not None or after is None:
                return None
            pending = unmaterialised(after, status)
            if buckets is not None and pending > 0:
                buckets, _ = first_fit(buckets, Quantity.shape(after.per_replica), pending)
        return ClusterCapacity(
            capacity.limit, capacity.allowance, ledger.reserved(view.name), buckets
        )
