"""The engine's answer for one request and the ledger changes that reserve it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from fed.v1 import types_pb2
from proxy.scheduler.diagnosis import EMPTY, Diagnosis
from proxy.scheduler.status import Status


@dataclass(init=False, unsafe_hash=True)
class Assignment:
    """Replicas on one cluster after the decision, and before it."""

    cluster: Final[str]
    replicas: Final[int]
    previous: Final[int]
    reservation_id: Final[str]

    def __init__(
        self, cluster: str, replicas: int, previous: int = 0, reservation_id: str = ""
    ) -> None:
        self.cluster = cluster
        self.replicas = replicas
        self.previous = previous
        self.reservation_id = reservation_id

    @property
    def delta(self) -> int:
        return self.replicas - self.previous


@dataclass(init=False, unsafe_hash=True)
class Decision:
    """Per-cluster replicas (clusters that lose all their replicas included, with 0),
    replicas that could not be placed and why. A failed decision changes nothing."""

    workload: Final[str]
    status: Final[Status]
    assignments: Final[tuple[Assignment, ...]]
    unplaced: Final[int]
    diagnosis: Final[Diagnosis]

    def __init__(
        self,
        workload: str,
        status: Status,
        assignments: tuple[Assignment, ...] = (),
        unplaced: int = 0,
        diagnosis: Diagnosis = EMPTY,
    ) -> None:
        self.workload = workload
        self.status = status
        self.assignments = assignments
        self.unplaced = unplaced
        self.diagnosis = diagnosis

    @property
    def ok(self) -> bool:
        return self.status.ok

    def replicas(self) -> dict[str, int]:
        """Replicas per cluster after the decision (clusters with none left out)."""
        return {item.cluster: item.replicas for item in self.assignments if item.replicas > 0}

    def changed(self) -> tuple[Assignment, ...]:
        return tuple(item for item in self.assignments if item.delta != 0)

    def reasons(self) -> list[str]:
        """The RESOURCE_EXHAUSTED detail: per-cluster reasons then the division's limits."""
        return self.diagnosis.reasons()

    def placement(self, epoch: int = 0) -> types_pb2.Placement:
        placement = types_pb2.Placement()
        self.write_placement(placement, epoch)
        return placement

    def write_placement(self, placement: types_pb2.Placement, epoch: int = 0) -> None:
        """The clusters that hold replicas, written into `placement` in place (a record
        being built need not copy a Placement message in)."""
        placement.epoch = epoch
        parts = placement.clusters
        for item in self.assignments:
            if item.replicas > 0:
                parts.add(
                    cluster=item.cluster, replicas=item.replicas, reservation_id=item.reservation_id
                )


@dataclass(init=False, unsafe_hash=True)
class Changes:
    """What reserving a decision did to the ledger, to be written to etcd (fenced)."""

    upserts: Final[tuple[types_pb2.Reservation, ...]]
    releases: Final[tuple[types_pb2.Reservation, ...]]

    def __init__(
        self,
        upserts: tuple[types_pb2.Reservation, ...] = (),
        releases: tuple[types_pb2.Reservation, ...] = (),
    ) -> None:
        self.upserts = upserts
        self.releases = releases
