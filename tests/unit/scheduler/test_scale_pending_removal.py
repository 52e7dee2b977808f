"""Scaling keeps a part scaled to zero earlier whose Deployment is not removed yet.

A scale request holds only the parts with replicas, so the engine's decision never mentions
the zero-replica part; a record rebuilt from the decision alone would drop it, and the binder
would never remove its Deployment.
"""

from __future__ import annotations

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from unit.scheduler.scheduler_fleet import (
    PENDING_REMOVAL,
    Fake,
    fleet,
    ledger_for,
    with_pending_removal,
)

from common.etcd_store import Put
from common.keys import Keys
from fed.v1 import federation_pb2, types_pb2
from proxy.known_records import KnownRecords
from proxy.requests import Call, RequestLog, digest
from proxy.scheduler.batcher import Pending
from proxy.scheduler.engine import Engine
from proxy.write_round import Prepared, RoundPlanner

KEYS = Keys("/t")


class _Answers(RequestLog):
    """Request records without etcd: the planner only stages their Puts."""

    def __init__(self) -> None:
        pass

    def record(
        self,
        request_id: str,
        method: str,
        request_digest: bytes,
        response: Message,
        created: Timestamp | None = None,
    ) -> Put:
        return Put(KEYS.request(request_id), response.SerializeToString())


def scaled(replicas: int, *clusters: Fake) -> types_pb2.Workload:
    """team/web (3 ready on b, a pending removal) after one planned ScaleWorkload."""
    workload = with_pending_removal(("b", 3, types_pb2.WORKLOAD_PHASE_READY))
    workloads = {("team", "web"): workload}
    snapshot = fleet(*clusters)
    planner = RoundPlanner(
        KEYS,
        Engine(),
        ledger_for(workload),
        workloads,
        _Answers(),
        lambda: snapshot,
        KnownRecords(),
    )
    request = federation_pb2.ScaleWorkloadRequest(
        request_id="s-1", namespace="team", name="web", replicas=replicas
    )
    call = Call("s-1", "ScaleWorkload", digest("ScaleWorkload", request))
    item = Prepared(Pending(("ScaleWorkload", request)), call)
    planner.plan([item], epoch=1)
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
