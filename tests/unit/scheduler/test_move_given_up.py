"""A move whose target refused its part is given up: the workload is no longer in flight
(later moves and scales are not blocked), and no replica is lost or counted twice."""

from __future__ import annotations

from unit.scheduler.scheduler_fleet import ledger_for
from unit.scheduler.scheduler_fleet import workload_record as record

from common.etcd_store import Delete
from common.keys import Keys
from fed.v1 import types_pb2
from proxy.ledger import Ledger
from proxy.migration import CompleteMove, MoveResult, complete, in_flight

Phase = types_pb2.WorkloadPhase
KEYS = Keys("/t")
MOVE = CompleteMove("team", "web", "op-1")


def moving(graceful: bool) -> types_pb2.Workload:
    """3 replicas of team/web moving from a to b (Failed) and c (Ready) in op-1."""
    workload = record(
        ("a", 3, Phase.WORKLOAD_PHASE_READY),
        ("b", 1, Phase.WORKLOAD_PHASE_FAILED),
        ("c", 2, Phase.WORKLOAD_PHASE_READY),
    )
    workload.spec.replicas = 3
    source, failed, ready = workload.placement.clusters
    failed.message = "apply refused by b: quota exceeded (a move is in flight)"
    for part in (failed, ready):
        part.operation_id = "op-1"
    if graceful:
        source.leaving, source.operation_id = 3, "op-1"
    else:
        del workload.placement.clusters[0]
    return workload


def given_up(graceful: bool) -> tuple[MoveResult, dict[str, types_pb2.ClusterPlacement], Ledger]:
    """The move completed once b Failed: the result, its parts by cluster and the ledger."""
    workload = moving(graceful)
    ledger = ledger_for(workload)
    result = complete(workload, MOVE, ledger, KEYS)
    assert result.record is not None and not in_flight(result.record)
    return result, {p.cluster: p for p in result.record.placement.clusters}, ledger


def test_a_graceful_move_given_up_leaves_every_replica_on_its_source() -> None:
    result, parts, ledger = given_up(graceful=True)
    assert (parts["a"].replicas, parts["a"].leaving) == (3, 0)
    assert parts["b"].replicas == parts["c"].replicas == 0, "left for the binder to remove"
    assert result.ops == [
        Delete(KEYS.reservation("b", "r-b")),
        Delete(KEYS.reservation("c", "r-c")),
    ]
    assert ledger.get("b", "r-b") is None and ledger.get("c", "r-c") is None
    assert ledger.get("a", "r-a") is not None
    assert result.record is not None
    assert result.record.message == (
        "move op-1 given up: apply failed on b: apply refused by b: quota exceeded"
        " (a move is in flight)"
    )


def test_a_direct_move_given_up_keeps_the_failed_part_and_the_placed_ones() -> None:
    result, parts, _ = given_up(graceful=False)
    assert (parts["b"].replicas, parts["b"].phase) == (1, Phase.WORKLOAD_PHASE_FAILED)
    assert parts["c"].replicas == 2
    assert result.ops == [], "the sources gave their replicas up already"
