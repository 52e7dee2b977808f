"""The reservation ledger: per-cluster reserved totals and the no-over-commit check.

Reservations are `types_pb2.Reservation` messages keyed by (cluster, id). Every change is
journalled so that a batch can be tried in memory and rolled back to a checkpoint before
(or instead of) its fenced etcd commit.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from fed.v1 import types_pb2
from proxy.scheduler.resources import ZERO, Quantity


class OverCommitError(Exception):
    """A reservation would push a cluster past its allowance."""

    def __init__(self, cluster: str, dimensions: list[str]) -> None:
        super().__init__(f"cluster {cluster}: reservation exceeds {', '.join(dimensions)}")
        self.cluster = cluster
        self.dimensions = dimensions


@dataclass(init=False, unsafe_hash=True)
class _Entry:
    """One journal entry: the reservation that was there before (None: absent)."""

    cluster: Final[str]
    reservation_id: Final[str]
    before: Final[types_pb2.Reservation | None]

    def __init__(
        self, cluster: str, reservation_id: str, before: types_pb2.Reservation | None
    ) -> None:
        self.cluster = cluster
        self.reservation_id = reservation_id
        self.before = before


def demand(reservation: types_pb2.Reservation) -> Quantity:
    """The resources a reservation holds: replicas x per-replica shape."""
    return Quantity.shape(reservation.per_replica).times(max(reservation.replicas, 0))


_CHANGE_LOG = 512
"""Changes kept per cluster for incremental capacity updates; older ones force a rebuild."""

Change = tuple[types_pb2.Reservation | None, types_pb2.Reservation | None]


@dataclass(init=False, unsafe_hash=True)
class _Change:
    generation: Final[int]
    before: Final[types_pb2.Reservation | None]
    after: Final[types_pb2.Reservation | None]

    def __init__(
        self,
        generation: int,
        before: types_pb2.Reservation | None,
        after: types_pb2.Reservation | None,
    ) -> None:
        self.generation = generation
        self.before = before
        self.after = after


class Ledger:
    """Active reservations per cluster with their reserved totals."""

    def __init__(self, reservations: Iterable[types_pb2.Reservation] = ()) -> None:
        self._by_cluster: dict[str, dict[str, types_pb2.Reservation]] = {}
        self._totals: dict[str, Quantity] = {}
        self._generations: dict[str, int] = {}
        self._changes: dict[str, deque[_Change]] = {}
        self._journal: list[_Entry] = []
        for reservation in reservations:
            self._put(reservation.cluster, reservation.id, reservation)
        self._journal.clear()

    def copy(self) -> Ledger:
        """An independent ledger with the same reservations (the journal is not copied)."""
        clone = Ledger()
        clone._by_cluster = {name: dict(items) for name, items in self._by_cluster.items()}
        clone._totals = dict(self._totals)
        clone._generations = dict(self._generations)
        return clone

    def changes_since(self, cluster: str, generation: int) -> list[Change] | None:
        """The cluster's (before, after) changes after `generation`, oldest first; None when
        the short log no longer reaches back that far."""
        log = self._changes.get(cluster)
        current = self.generation(cluster)
        if current == generation:
            return []
        if not log or log[0].generation > generation + 1:
            return None
        newest = list(itertools.islice(reversed(log), current - generation))
        return [(c.before, c.after) for c in reversed(newest)]

    def clusters(self) -> list[str]:
        return sorted(name for name, items in self._by_cluster.items() if items)

    def reservations(self, cluster: str) -> Mapping[str, types_pb2.Reservation]:
        return self._by_cluster.get(cluster, {})

    def __iter__(self) -> Iterator[types_pb2.Reservation]:
        for items in self._by_cluster.values():
            yield from items.values()

    def __len__(self) -> int:
        """Active reservations over every cluster (cheap: one len per cluster)."""
        return sum(len(items) for items in self._by_cluster.values())

    def get(self, cluster: str, reservation_id: str) -> types_pb2.Reservation | None:
        return self._by_cluster.get(cluster, {}).get(reservation_id)

    def reserved(self, cluster: str) -> Quantity:
        """The sum of the cluster's active reservations."""
        return self._totals.get(cluster, ZERO)

    def generation(self, cluster: str) -> int:
        """A counter that changes whenever the cluster's reservations change."""
        return self._generations.get(cluster, 0)

    @property
    def generations(self) -> Mapping[str, int]:
        """Every cluster's generation (absent: 0), for loops that read many of them."""
        return self._generations

    def over_commit(self, cluster: str, added: Quantity, allowance: Quantity) -> list[str]:
        """Dimensions where reserved + added would exceed the allowance (empty: it fits)."""
        return (self.reserved(cluster) + added).exceeded(allowance, added)

    def reserve(self, reservation: types_pb2.Reservation, allowance: Quantity) -> None:
        """Add or replace a reservation; refuse growth past the cluster's allowance.

        allowance = allocatable x overcommit - foreign requested: what reservations may hold.
        """
        cluster = reservation.cluster
        before = self.get(cluster, reservation.id)
        added = demand(reservation)
        grown = added - (demand(before) if before is not None else ZERO)
        dimensions = self.over_commit(cluster, grown, allowance)
        if dimensions:
            raise OverCommitError(cluster, dimensions)
        self._put(cluster, reservation.id, reservation, added)

    def release(self, cluster: str, reservation_id: str) -> types_pb2.Reservation | None:
        """Remove a reservation; returns it (None if it was not there)."""
        before = self.get(cluster, reservation_id)
        if before is not None:
            self._put(cluster, reservation_id, None)
        return before

    def checkpoint(self) -> int:
        """A mark to roll back to."""
        return len(self._journal)

    def rollback(self, checkpoint: int) -> None:
        """Undo every change made after the checkpoint."""
        while len(self._journal) > checkpoint:
            entry = self._journal.pop()
            self._apply(entry.cluster, entry.reservation_id, entry.before)

    def commit(self) -> None:
        """Forget the journal: the changes so far can no longer be rolled back."""
        self._journal.clear()

    def _put(
        self,
        cluster: str,
        reservation_id: str,
        reservation: types_pb2.Reservation | None,
        added: Quantity | None = None,
    ) -> None:
        before = self._apply(cluster, reservation_id, reservation, added)
        self._journal.append(_Entry(cluster, reservation_id, before))

    def _apply(
        self,
        cluster: str,
        reservation_id: str,
        reservation: types_pb2.Reservation | None,
        added: Quantity | None = None,
    ) -> types_pb2.Reservation | None:
        """Put (or, with None, remove) a reservation; `added` is its demand when the caller
        has worked it out already."""
        items = self._by_cluster.setdefault(cluster, {})
        before = items.pop(reservation_id, None)
        total = self._totals.get(cluster, ZERO)
        if before is not None:
            total = total - demand(before)
        if reservation is not None:
            items[reservation_id] = reservation
            total = total + (added if added is not None else demand(reservation))
        self._totals[cluster] = total
        generation = self._generations.get(cluster, 0) + 1
        self._generations[cluster] = generation
        log = self._changes.setdefault(cluster, deque(maxlen=_CHANGE_LOG))
        log.append(_Change(generation, before, reservation))
        return before
