"""A settled workload whose Deployments changed in their clusters is reported, and so bound
again; the checks are spread over the drift period."""

from __future__ import annotations

import asyncio

import grpc
from unit.controllers.binder_fakes import FakeWriter, fake_binder

from fed.v1 import types_pb2, worker_pb2
from proxy.binder import Binder
from proxy.controllers.drift import DriftPacer
from proxy.worker_batches import rpc_error
from proxy.write_round import PartReport, PhaseReport

Phase = types_pb2.WorkloadPhase
KEY = ("team-a", "web")


class StatusRouter:
    """Answers status calls with what each cluster holds: (exists, desired, ready), or an
    error for a cluster that does not answer."""

    def __init__(self, held: dict[str, tuple[bool, int, int] | None]) -> None:
        self.held = held
        self.calls: list[str] = []

    def workers_for(self, cluster: str) -> list[str]:
        return ["w1"]

    async def call(self, cluster: str, item: worker_pb2.BatchItem) -> worker_pb2.BatchResult:
        assert item.HasField("status")
        self.calls.append(cluster)
        held = self.held[cluster]
        if held is None:
            raise rpc_error(grpc.StatusCode.UNAVAILABLE, f"{cluster} is down")
        exists, desired, ready = held
        status = worker_pb2.WorkloadStatus(
            exists=exists, desired=desired, ready=ready, message=f"{ready}/{desired} ready"
        )
        return worker_pb2.BatchResult(status=status)


def ready_workload(*clusters: str, name: str = "web") -> types_pb2.Workload:
    workload = types_pb2.Workload(
        spec=types_pb2.WorkloadSpec(namespace="team-a", name=name, replicas=2 * len(clusters)),
        phase=Phase.WORKLOAD_PHASE_READY,
    )
    for cluster in clusters:
        workload.placement.clusters.add(
            cluster=cluster,
            replicas=2,
            reservation_id=f"r-{cluster}",
            phase=Phase.WORKLOAD_PHASE_READY,
            ready_replicas=2,
        )
    return workload


def binder_for(workload: types_pb2.Workload, router: StatusRouter) -> tuple[Binder, FakeWriter]:
    writer = FakeWriter(workload)
    return fake_binder(writer, router), writer


async def test_deleted_rescaled_and_unready_parts_are_reported_in_one_go() -> None:
    router = StatusRouter(
        {
            "c1": (False, 0, 0),  # deleted by hand
            "c2": (True, 5, 5),  # scaled to 5 by hand
            "c3": (True, 2, 1),  # a pod stopped being ready
            "c4": (True, 2, 2),  # as bound
            "c5": None,  # does not answer: left to the cluster's health
        }
    )
    binder, writer = binder_for(ready_workload("c1", "c2", "c3", "c4", "c5"), router)
    assert await asyncio.wait_for(binder.check_drift(KEY), timeout=5) == 3
    assert sorted(router.calls) == ["c1", "c2", "c3", "c4", "c5"]
    assert writer.reports == [
        PhaseReport(
            "team-a",
            "web",
            (
                PartReport("c1", 2, Phase.WORKLOAD_PHASE_RESERVED, 0, "re-applying"),
                PartReport(
                    "c2",
                    2,
                    Phase.WORKLOAD_PHASE_RESERVED,
                    0,
                    "5 replicas in the cluster, 2 wanted: re-applying",
                ),
                PartReport("c3", 2, Phase.WORKLOAD_PHASE_APPLIED, 1, "1/2 ready"),
            ),
        )
    ]
    assert not binder._binding


async def test_a_workload_as_it_was_bound_is_not_reported() -> None:
    router = StatusRouter({"c1": (True, 2, 2), "c2": (True, 2, 3)})
    binder, writer = binder_for(ready_workload("c1", "c2"), router)
    assert await binder.check_drift(KEY) == 0
    assert sorted(router.calls) == ["c1", "c2"]
    assert writer.reports == []


async def test_a_workload_being_bound_or_not_settled_is_not_checked() -> None:
    router = StatusRouter({"c1": (False, 0, 0)})
    workload = ready_workload("c1")
    binder, writer = binder_for(workload, router)
    binder._binding.add(KEY)
    assert await binder.check_drift(KEY) == 0
    binder._binding.discard(KEY)
    workload.phase = Phase.WORKLOAD_PHASE_APPLIED
    assert await binder.check_drift(KEY) == 0
    assert await binder.check_drift(("team-a", "gone")) == 0
    assert router.calls == [] and writer.reports == []


async def test_a_record_changed_during_the_check_is_bound_after_it() -> None:
    """The check holds the workload as a binding pass does: a commit of a new version during
    it is bound once the check ends, not beside it."""
    router = StatusRouter({"c1": (False, 0, 0)})
    workload = ready_workload("c1")
    binder, _ = binder_for(workload, router)
    binder._again.add(KEY)  # what _drain records for a version committed meanwhile
    await binder.check_drift(KEY)
    assert binder._queue.get_nowait() == KEY
    assert KEY not in binder._again


def test_each_settled_workload_is_checked_once_per_period_in_even_slices() -> None:
    workloads = {("team-a", f"w{i}"): ready_workload("c1", name=f"w{i}") for i in range(10)}
    unsettled_one = ready_workload("c1", name="moving")
    unsettled_one.phase = Phase.WORKLOAD_PHASE_APPLIED
    workloads[("team-a", "moving")] = unsettled_one
    pacer = DriftPacer(period_s=1.0, tick_s=0.25)
    slices = [pacer.next_slice(workloads) for _ in range(4)]
    assert [len(keys) for keys in slices] == [3, 2, 3, 2]
    checked = [key for keys in slices for key in keys]
    assert sorted(checked) == sorted(key for key in workloads if key[1] != "moving")
    assert len(pacer.next_slice(workloads)) == 3  # the next round, a period later


def test_a_few_workloads_are_spread_over_the_period_and_not_checked_sooner() -> None:
    workloads = {("team-a", f"w{i}"): ready_workload("c1", name=f"w{i}") for i in range(2)}
    pacer = DriftPacer(period_s=1.0, tick_s=0.25)
    slices = [pacer.next_slice(workloads) for _ in range(8)]
    assert [keys[0][1] if keys else "" for keys in slices] == ["w0", "", "w1", ""] * 2
