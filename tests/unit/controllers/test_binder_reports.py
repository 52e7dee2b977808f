"""A binding pass calls every part's worker at once and reports what it learned in one go."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from unit.controllers.binder_fakes import FakeWriter, fake_binder

from fed.v1 import types_pb2, worker_pb2
from proxy.worker_batches import rpc_error
from proxy.write_round import PartReport, PhaseReport

Phase = types_pb2.WorkloadPhase


class GatedRouter:
    """Answers only once every expected call is in flight (so calls made one after the
    other would never be answered): c1 applies, c2 is Ready, c3 is unreachable."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.calls: list[str] = []
        self.all_in = asyncio.Event()

    def workers_for(self, cluster: str) -> list[str]:
        return ["w1"]

    async def call(self, cluster: str, item: worker_pb2.BatchItem) -> worker_pb2.BatchResult:
        self.calls.append(cluster)
        if len(self.calls) == self.expected:
            self.all_in.set()
        await self.all_in.wait()
        if cluster == "c3":
            raise rpc_error(grpc.StatusCode.UNAVAILABLE, "c3 is down")
        if item.HasField("status"):
            status = worker_pb2.WorkloadStatus(exists=True, desired=1, ready=1, message="1/1")
            return worker_pb2.BatchResult(status=status)
        return worker_pb2.BatchResult(apply=worker_pb2.ApplyResponse(cluster=cluster))


def three_parts() -> types_pb2.Workload:
    workload = types_pb2.Workload(
        spec=types_pb2.WorkloadSpec(namespace="team-a", name="web", replicas=4),
        phase=Phase.WORKLOAD_PHASE_RESERVED,
    )
    for cluster, replicas, phase in (
        ("c1", 2, Phase.WORKLOAD_PHASE_RESERVED),
        ("c2", 1, Phase.WORKLOAD_PHASE_APPLIED),
        ("c3", 1, Phase.WORKLOAD_PHASE_RESERVED),
    ):
        workload.placement.clusters.add(
            cluster=cluster, replicas=replicas, reservation_id=f"r-{cluster}", phase=phase
        )
    return workload


async def test_parts_are_bound_at_once_and_reported_together() -> None:
    workload = three_parts()
    router, writer = GatedRouter(expected=3), FakeWriter(workload)
    binder = fake_binder(writer, router)
    outcome = await asyncio.wait_for(binder._bind(workload), timeout=5)
    assert sorted(router.calls) == ["c1", "c2", "c3"]
    assert [str(f) for f in outcome.failures] == [
        str(rpc_error(grpc.StatusCode.UNAVAILABLE, "c3 is down"))
    ]
    assert outcome.reached
    report: Any = writer.reports[0]
    assert len(writer.reports) == 1 and isinstance(report, PhaseReport)
    assert report.parts == (
        PartReport("c1", 2, Phase.WORKLOAD_PHASE_APPLIED, 0, ""),
        PartReport("c2", 1, Phase.WORKLOAD_PHASE_READY, 1, "1/1"),
    )
