"""A part scaled to zero (its Deployment not removed yet) survives every move of the others.

Placement requests leave zero-replica parts out, so the engine's decision never mentions
them; a move rebuilt from the decision alone would drop the part and orphan its Deployment.
"""

from __future__ import annotations

from unit.scheduler.scheduler_fleet import (
    PENDING_REMOVAL,
    Fake,
    fleet,
    ledger_for,
    with_pending_removal,
)

from common.keys import Keys
from fed.v1 import types_pb2
from proxy.migration import (
    CompleteMove,
    Evacuate,
    MoveResult,
    Refused,
    ReturnMove,
    complete,
    evacuate,
    replace_refused,
    return_back,
)
from proxy.scheduler.engine import Engine
from proxy.scheduler.model import Snapshot

Phase = types_pb2.WorkloadPhase
Mode = types_pb2.FailoverMode
KEYS = Keys("/t")


def without_pending(workload: types_pb2.Workload) -> types_pb2.Workload:
    """The same workload had its part on a already gone."""
    twin = types_pb2.Workload()
    twin.CopyFrom(workload)
    del twin.placement.clusters[-1]
    return twin


def down_a() -> Snapshot:
    return fleet(Fake("a", health=types_pb2.CLUSTER_HEALTH_FAILED), Fake("b"), Fake("c"))


def evacuate_b(
    workload: types_pb2.Workload, snapshot: Snapshot, mode: Mode.ValueType
) -> MoveResult:
    ledger = ledger_for(workload)
    move = Evacuate("team", "web", frozenset({"b"}), "op-1", mode)
    return evacuate(workload, move, Engine().cycle(snapshot, ledger), ledger, KEYS)


def refuse_b(workload: types_pb2.Workload) -> MoveResult:
    ledger = ledger_for(workload)
    refused = Refused("team", "web", "b", 3, "quota exceeded")
    return replace_refused(workload, refused, Engine().cycle(down_a(), ledger), ledger, KEYS)


def with_pending(result: MoveResult) -> types_pb2.Workload:
    """What the move makes of the workload without the pending part, plus that part."""
    assert result.record is not None
    expected = types_pb2.Workload()
    expected.CopyFrom(result.record)
    expected.placement.clusters.append(PENDING_REMOVAL)
    return expected


def parts(result: MoveResult) -> dict[str, types_pb2.ClusterPlacement]:
    assert result.record is not None
    return {p.cluster: p for p in result.record.placement.clusters}


def test_evacuating_another_cluster_keeps_the_part_pending_removal() -> None:
    for mode in (Mode.FAILOVER_MODE_DIRECT, Mode.FAILOVER_MODE_GRACEFUL):
        workload = with_pending_removal(("b", 3, Phase.WORKLOAD_PHASE_READY))
        result = evacuate_b(workload, down_a(), mode)
        baseline = evacuate_b(without_pending(workload), down_a(), mode)
        assert parts(result)["c"].replicas == 3, "the move itself happened"
        assert result.record == with_pending(baseline), "a kept as it was, nothing else changed"
        assert result.ops == baseline.ops


def test_a_move_onto_the_cluster_pending_removal_replaces_its_part() -> None:
    workload = with_pending_removal(("b", 3, Phase.WORKLOAD_PHASE_READY))
    result = evacuate_b(workload, fleet(Fake("a"), Fake("b")), Mode.FAILOVER_MODE_DIRECT)
    assert result.record is not None
    assert [p.cluster for p in result.record.placement.clusters].count("a") == 1
    target = parts(result)["a"]
    assert (target.replicas, target.phase) == (3, Phase.WORKLOAD_PHASE_RESERVED)
    assert target.operation_id == "op-1"
    assert target.reservation_id != PENDING_REMOVAL.reservation_id, "the decision's reservation"


def test_replacing_a_refused_part_keeps_the_part_pending_removal() -> None:
    workload = with_pending_removal(("b", 3, Phase.WORKLOAD_PHASE_RESERVED))
    result = refuse_b(workload)
    baseline = refuse_b(without_pending(workload))
    assert parts(result)["c"].replicas == 3, "the refused replicas moved"
    assert result.record == with_pending(baseline), "a kept as it was, nothing else changed"
    assert result.ops == baseline.ops


def test_returning_and_completing_keep_the_part_pending_removal() -> None:
    workload = with_pending_removal(("c", 3, Phase.WORKLOAD_PHASE_READY))
    ledger = ledger_for(workload)
    cycle = Engine().cycle(down_a(), ledger)
    back = ReturnMove("team", "web", "b", ("c",), 3, "op-2")
    returned = return_back(workload, back, cycle, ledger, KEYS)
    assert parts(returned)["b"].replicas == 3
    assert parts(returned)["a"] == PENDING_REMOVAL
    assert returned.record is not None
    parts(returned)["b"].phase = Phase.WORKLOAD_PHASE_READY
    done = complete(returned.record, CompleteMove("team", "web", "op-2"), ledger, KEYS)
    assert (parts(done)["b"].replicas, parts(done)["c"].replicas) == (3, 0)
    assert parts(done)["a"] == PENDING_REMOVAL
