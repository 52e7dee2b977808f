"""Assembling a Decision from a division: assignments, failure status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from proxy.scheduler.decision import Assignment
from proxy.scheduler.divide import Candidate, Division
from proxy.scheduler.model import PlacementRequest
from proxy.scheduler.reservations import new_reservation_id
from proxy.scheduler.status import Code, Status


def assignments(request: PlacementRequest, division: Division) -> tuple[Assignment, ...]:
    """Every cluster the workload held or will hold, in name order."""
    held = request.held()
    ids = {item.cluster: item.reservation_id for item in request.current if item.reservation_id}
    return tuple(
        Assignment(
            cluster,
            division.totals.get(cluster, 0),
            held.get(cluster, 0),
            ids.get(cluster) or new_reservation_id(request, cluster),
        )
        for cluster in sorted(set(held) | set(division.totals))
    )


def unchanged(request: PlacementRequest) -> tuple[Assignment, ...]:
    """The current placement as it is (a failed decision changes nothing)."""
    return tuple(
        Assignment(item.cluster, item.replicas, item.replicas, item.reservation_id)
        for item in request.current
    )


def added(request: PlacementRequest, division: Division) -> int:
    """Replicas the division puts where the workload did not hold them before."""
    held = request.held()
    return sum(max(count - held.get(cluster, 0), 0) for cluster, count in division.totals.items())


def failure(
    candidates: Sequence[Candidate], rejected: Mapping[str, Status], division: Division
) -> Status:
    """Unresolvable when no cluster passes and none ever could; unschedulable otherwise."""
    message = f"{division.unplaced} replicas could not be placed"
    if not candidates and all(
        status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE for status in rejected.values()
    ):
        return Status.unresolvable(f"{message}: no cluster can ever take them", "divide")
    return Status.unschedulable(message, "divide")
