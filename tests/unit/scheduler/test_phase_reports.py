"""A binding pass's report: every part it learned about, in one record write."""

from __future__ import annotations

from unit.scheduler.scheduler_fleet import (
    KEYS,
    PENDING_REMOVAL,
    planner_for,
    with_pending_removal,
)
from unit.scheduler.scheduler_fleet import workload_record as record

from common.etcd_store import Put
from fed.v1 import types_pb2
from proxy.scheduler.batcher import Pending
from proxy.write_round import PartReport, PhaseReport, Prepared, overall_phase

Phase = types_pb2.WorkloadPhase


def plan_report(workload: types_pb2.Workload, *parts: PartReport) -> Prepared:
    item = Prepared(Pending(PhaseReport(workload.spec.namespace, workload.spec.name, parts)))
    planner_for(workload).plan([item], epoch=1)
    return item


async def test_every_reported_part_changes_in_one_write_and_a_stale_one_is_ignored() -> None:
    workload = record(
        ("a", 2, Phase.WORKLOAD_PHASE_RESERVED),
        ("b", 1, Phase.WORKLOAD_PHASE_APPLIED),
        ("c", 3, Phase.WORKLOAD_PHASE_RESERVED),
    )
    item = plan_report(
        workload,
        PartReport("a", 2, Phase.WORKLOAD_PHASE_APPLIED),
        PartReport("b", 1, Phase.WORKLOAD_PHASE_READY, 1, "1/1 ready"),
        PartReport("c", 5, Phase.WORKLOAD_PHASE_APPLIED),  # about a size c no longer has
    )
    assert item.workload is not None
    parts = {p.cluster: p for p in item.workload.placement.clusters}
    assert parts["a"].phase == Phase.WORKLOAD_PHASE_APPLIED
    assert (parts["b"].phase, parts["b"].ready_replicas) == (Phase.WORKLOAD_PHASE_READY, 1)
    assert parts["c"].phase == Phase.WORKLOAD_PHASE_RESERVED
    assert item.workload.phase == Phase.WORKLOAD_PHASE_RESERVED
    assert [op.key for op in item.ops if isinstance(op, Put)] == [KEYS.workload("team", "web")]


async def test_a_removed_part_leaves_the_record_with_the_others_news() -> None:
    workload = with_pending_removal(("b", 2, Phase.WORKLOAD_PHASE_APPLIED))
    item = plan_report(
        workload,
        PartReport(PENDING_REMOVAL.cluster, 0, Phase.WORKLOAD_PHASE_UNSPECIFIED, 0, "removed"),
        PartReport("b", 2, Phase.WORKLOAD_PHASE_READY, 2),
    )
    assert item.workload is not None
    assert [(p.cluster, p.phase) for p in item.workload.placement.clusters] == [
        ("b", Phase.WORKLOAD_PHASE_READY)
    ]
    assert item.workload.phase == Phase.WORKLOAD_PHASE_READY


async def test_a_report_that_changes_nothing_writes_nothing() -> None:
    workload = record(("a", 2, Phase.WORKLOAD_PHASE_APPLIED))
    workload.phase = Phase.WORKLOAD_PHASE_APPLIED
    item = plan_report(workload, PartReport("a", 2, Phase.WORKLOAD_PHASE_APPLIED))
    assert item.ops == [] and item.workload is None


def test_the_overall_phase_is_the_least_advanced_part_holding_replicas() -> None:
    ready, applied = Phase.WORKLOAD_PHASE_READY, Phase.WORKLOAD_PHASE_APPLIED
    assert overall_phase(record(("a", 2, ready), ("b", 1, applied))) == applied
    assert overall_phase(with_pending_removal(("b", 1, ready))) == ready  # a holds none
    assert overall_phase(record(("a", 2, ready), ("b", 1, Phase.WORKLOAD_PHASE_UNSPECIFIED))) == (
        Phase.WORKLOAD_PHASE_UNSPECIFIED
    )
    nothing = record()
    assert overall_phase(nothing) == ready  # zero replicas wanted, none held
    nothing.spec.replicas = 3
    assert overall_phase(nothing) == Phase.WORKLOAD_PHASE_PENDING
    nothing.phase = Phase.WORKLOAD_PHASE_DELETING
    assert overall_phase(nothing) == Phase.WORKLOAD_PHASE_DELETING
