"""A scale while a move is in flight is refused (ABORTED, retry later): the record holds the
move's source and its targets at once, so the scale would count the leaving replicas twice
and drop the move's tags (3 moving from a to b, scaled to 4, left 2 + 2 and no move)."""

from __future__ import annotations

import grpc
from unit.scheduler.scheduler_fleet import Fake, plan_scale, workload_record

from fed.v1 import types_pb2
from proxy.errors import ApiError

Phase = types_pb2.WorkloadPhase


def moving() -> types_pb2.Workload:
    """team/web: 3 replicas leaving a for b in operation op-1."""
    workload = workload_record(
        ("a", 3, Phase.WORKLOAD_PHASE_READY), ("b", 3, Phase.WORKLOAD_PHASE_RESERVED)
    )
    workload.spec.replicas = 3
    source, target = workload.placement.clusters
    source.leaving, source.operation_id, target.operation_id = 3, "op-1", "op-1"
    return workload


async def test_a_scale_during_a_move_is_aborted_naming_the_operation() -> None:
    item = plan_scale(moving(), 4, Fake("a"), Fake("b"), Fake("c"))
    assert isinstance(item.error, ApiError)
    assert item.error.code == grpc.StatusCode.ABORTED
    assert "moving (operation op-1)" in item.error.message
    assert item.workload is None and item.ops == []


async def test_a_scale_after_the_move_goes_through() -> None:
    workload = moving()
    for part in workload.placement.clusters:
        part.operation_id, part.leaving = "", 0
    del workload.placement.clusters[0]
    workload.spec.replicas = 3
    item = plan_scale(workload, 4, Fake("a"), Fake("b"), Fake("c"))
    assert item.error is None and item.workload is not None
    assert sum(p.replicas for p in item.workload.placement.clusters) == 4
