"""Scaling keeps a part scaled to zero earlier whose Deployment is not removed yet.

A scale request holds only the parts with replicas, so the engine's decision never mentions
the zero-replica part; a record rebuilt from the decision alone would drop it, and the binder
would never remove its Deployment.
"""

from __future__ import annotations

from unit.scheduler.scheduler_fleet import (
    PENDING_REMOVAL,
    Fake,
    plan_scale,
    with_pending_removal,
)

from fed.v1 import types_pb2


def scaled(replicas: int, *clusters: Fake) -> types_pb2.Workload:
    """team/web (3 ready on b, a pending removal) after one planned ScaleWorkload."""
    workload = with_pending_removal(("b", 3, types_pb2.WORKLOAD_PHASE_READY))
    item = plan_scale(workload, replicas, *clusters)
    assert item.error is None, item.error
    assert item.workload is not None
    return item.workload


def parts(workload: types_pb2.Workload) -> dict[str, types_pb2.ClusterPlacement]:
    return {p.cluster: p for p in workload.placement.clusters}


async def test_scaling_another_part_keeps_the_part_pending_removal() -> None:
    for replicas in (2, 5):
        record = scaled(replicas, Fake("b"), Fake("c", nodes=0))
        assert parts(record)["b"].replicas == replicas
        assert parts(record)["a"] == PENDING_REMOVAL, f"scaled to {replicas}"


async def test_scaling_onto_the_cluster_pending_removal_replaces_its_part() -> None:
    record = scaled(40, Fake("a"), Fake("b"))
    assert [p.cluster for p in record.placement.clusters].count("a") == 1
    assert parts(record)["a"].replicas > 0
    assert parts(record)["a"].phase == types_pb2.WORKLOAD_PHASE_RESERVED
