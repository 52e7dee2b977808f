"""A removed cluster's parts: reservations released, replicas placed elsewhere, nothing
left pointing at the cluster except replicas that fit nowhere (Failed, no reservation)."""

from __future__ import annotations

from unit.scheduler.scheduler_fleet import (
    Fake,
    fleet,
    ledger_for,
    reservation,
    with_pending_removal,
)
from unit.scheduler.scheduler_fleet import workload_record as record

from common.etcd_store import Delete, Put
from common.keys import Keys
from fed.v1 import types_pb2
from proxy.ledger import Ledger
from proxy.migration import Abandon, MoveResult, abandon
from proxy.scheduler.engine import Engine
from proxy.scheduler.model import Snapshot

Phase = types_pb2.WorkloadPhase
KEYS = Keys("/t")


def abandoned(
    workload: types_pb2.Workload, snapshot: Snapshot, ledger: Ledger, cluster: str = "b"
) -> MoveResult:
    move = Abandon("team", "web", cluster)
    return abandon(workload, move, Engine().cycle(snapshot, ledger), ledger, KEYS)


def parts(result: MoveResult) -> dict[str, types_pb2.ClusterPlacement]:
    assert result.record is not None
    return {p.cluster: p for p in result.record.placement.clusters}


def test_the_removed_clusters_replicas_are_placed_elsewhere_and_its_reservation_released() -> None:
    workload = record(("a", 2, Phase.WORKLOAD_PHASE_READY), ("b", 3, Phase.WORKLOAD_PHASE_READY))
    ledger = ledger_for(workload)
    result = abandoned(workload, fleet(Fake("a"), Fake("c")), ledger)
    placed = parts(result)
    assert "b" not in placed, "no part left for a binder that has no worker for b"
    assert sum(p.replicas for p in placed.values()) == 5
    assert ledger.get("b", "r-b") is None
    assert Delete(KEYS.reservation("b", "r-b")) in result.ops
    grown = {name for name, p in placed.items() if p.replicas > (2 if name == "a" else 0)}
    assert grown and all(placed[name].replaces == "b" for name in grown)
    assert {op.key for op in result.ops if isinstance(op, Put)} == {
        KEYS.reservation(name, placed[name].reservation_id) for name in grown
    }
    for name in grown:
        assert ledger.get(name, placed[name].reservation_id).replicas == placed[name].replicas  # type: ignore[union-attr]
    assert result.record is not None
    assert result.record.message == "cluster b was removed: 3 replicas re-placed elsewhere"


def test_what_fits_nowhere_stays_failed_without_a_reservation_until_it_fits() -> None:
    workload = record(("a", 2, Phase.WORKLOAD_PHASE_READY), ("b", 3, Phase.WORKLOAD_PHASE_READY))
    ledger = ledger_for(workload)
    full = fleet(Fake("a", nodes=0))
    result = abandoned(workload, full, ledger)
    stranded = parts(result)["b"]
    assert (stranded.replicas, stranded.phase, stranded.reservation_id) == (
        3,
        Phase.WORKLOAD_PHASE_FAILED,
        "",
    )
    assert "cluster b was removed" in stranded.message
    assert result.ops == [Delete(KEYS.reservation("b", "r-b"))]
    assert ledger.get("b", "r-b") is None
    assert result.record is not None
    again = abandoned(result.record, full, ledger)
    assert again.record is None, "an unchanged record is not rewritten by every sweep"
    later = abandoned(result.record, fleet(Fake("a", nodes=0), Fake("c")), ledger)
    placed = parts(later)
    assert "b" not in placed and placed["c"].replicas == 3
    assert placed["a"].replicas == 2


def test_a_part_pending_removal_is_dropped_with_its_reservation() -> None:
    workload = with_pending_removal(("b", 3, Phase.WORKLOAD_PHASE_READY))
    ledger = Ledger([reservation("b", 3, rid="r-b"), reservation("a", 1, rid="r-a")])
    result = abandoned(workload, fleet(Fake("b")), ledger, cluster="a")
    assert set(parts(result)) == {"b"}
    assert result.ops == [Delete(KEYS.reservation("a", "r-a"))]


def test_a_workload_being_deleted_only_loses_the_parts() -> None:
    workload = record(("a", 2, Phase.WORKLOAD_PHASE_READY), ("b", 3, Phase.WORKLOAD_PHASE_READY))
    workload.phase = Phase.WORKLOAD_PHASE_DELETING
    ledger = ledger_for(workload)
    result = abandoned(workload, fleet(Fake("a"), Fake("c")), ledger)
    assert set(parts(result)) == {"a"}
    assert result.ops == [Delete(KEYS.reservation("b", "r-b"))]


def test_a_workload_with_a_move_in_flight_waits_and_one_without_parts_there_is_untouched() -> None:
    workload = record(("a", 2, Phase.WORKLOAD_PHASE_READY), ("b", 3, Phase.WORKLOAD_PHASE_READY))
    snapshot = fleet(Fake("a"), Fake("c"))
    assert abandoned(workload, snapshot, ledger_for(workload), cluster="z").record is None
    workload.placement.clusters[0].operation_id = "op-1"
    ledger = ledger_for(workload)
    assert abandoned(workload, snapshot, ledger) == MoveResult(None, [])
    assert ledger.get("b", "r-b") is not None
