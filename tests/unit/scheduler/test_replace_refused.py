"""A part its cluster refused to apply: reservation released, replicas re-placed once."""

from __future__ import annotations

from unit.scheduler.scheduler_fleet import GI, Fake, fleet, ledger_for
from unit.scheduler.scheduler_fleet import workload_record as record

from common.etcd_store import Delete, Put
from common.keys import Keys
from fed.v1 import types_pb2
from proxy.ledger import Ledger
from proxy.migration import MoveResult, Refused, replace_refused
from proxy.scheduler.engine import Engine
from proxy.scheduler.model import Snapshot

Phase = types_pb2.WorkloadPhase
KEYS = Keys("/t")


def refuse(
    workload: types_pb2.Workload, snapshot: Snapshot, ledger: Ledger, cluster: str = "b"
) -> MoveResult:
    replicas = next(p.replicas for p in workload.placement.clusters if p.cluster == cluster)
    refused = Refused("team", "web", cluster, replicas, "quota exceeded")
    return replace_refused(workload, refused, Engine().cycle(snapshot, ledger), ledger, KEYS)


def parts(result: MoveResult) -> dict[str, types_pb2.ClusterPlacement]:
    assert result.record is not None
    return {p.cluster: p for p in result.record.placement.clusters}


def test_the_refused_part_is_released_and_its_replicas_placed_elsewhere() -> None:
    workload = record(("a", 2, Phase.WORKLOAD_PHASE_READY), ("b", 3, Phase.WORKLOAD_PHASE_RESERVED))
    ledger = ledger_for(workload)
    result = refuse(workload, fleet(Fake("a"), Fake("b"), Fake("c")), ledger)
    placed = parts(result)
    assert placed["b"].replicas == 0, "left for the binder to remove"
    assert placed["b"].message.startswith("apply refused by b: quota exceeded")
    moved = {name: p for name, p in placed.items() if name != "b"}
    assert sum(p.replicas for p in moved.values()) == 5
    for name, part in moved.items():
        grown = part.replicas > (2 if name == "a" else 0)
        assert part.replaces == ("b" if grown else "")
        assert not part.operation_id, "no operation: later moves are not blocked"
        assert ledger.get(name, part.reservation_id).replicas == part.replicas  # type: ignore[union-attr]
    assert ledger.get("b", "r-b") is None
    assert Delete(KEYS.reservation("b", "r-b")) in result.ops
    assert {op.key for op in result.ops if isinstance(op, Put)} == {
        KEYS.reservation(name, p.reservation_id)
        for name, p in moved.items()
        if p.replicas > (2 if name == "a" else 0)
    }
    assert result.record is not None
    assert "3 replicas re-placed elsewhere" in result.record.message


def test_a_part_changed_since_the_binder_acted_is_left_alone() -> None:
    workload = record(("a", 2, Phase.WORKLOAD_PHASE_RESERVED), ("b", 3, Phase.WORKLOAD_PHASE_READY))
    ledger = ledger_for(workload)
    snapshot = fleet(Fake("a"), Fake("b"))
    assert refuse(workload, snapshot, ledger).record is None, "not Reserved any more"
    stale = Refused("team", "web", "a", 5, "quota")
    cycle = Engine().cycle(snapshot, ledger)
    assert replace_refused(workload, stale, cycle, ledger, KEYS).record is None


def failed(result: MoveResult, cluster: str = "b") -> str:
    placed = parts(result)
    assert placed[cluster].phase == Phase.WORKLOAD_PHASE_FAILED
    assert result.ops == [], "nothing released: the Failed part keeps its reservation"
    return placed[cluster].message


def test_a_part_that_is_itself_a_re_placement_fails() -> None:
    workload = record(("a", 2, Phase.WORKLOAD_PHASE_READY), ("b", 3, Phase.WORKLOAD_PHASE_RESERVED))
    workload.placement.clusters[1].replaces = "c"
    ledger = ledger_for(workload)
    result = refuse(workload, fleet(Fake("a"), Fake("b"), Fake("c")), ledger)
    assert "re-placed from c already" in failed(result)
    assert ledger.get("b", "r-b") is not None


def test_nothing_fits_elsewhere_fails_with_the_reasons() -> None:
    workload = record(("b", 3, Phase.WORKLOAD_PHASE_RESERVED))
    snapshot = fleet(Fake("a", state=types_pb2.ADMIN_STATE_CORDONED), Fake("b"))
    message = failed(refuse(workload, snapshot, ledger_for(workload)))
    assert message.startswith("apply refused by b: quota exceeded; nothing fits elsewhere")
    assert "a: cluster_state: cluster is cordoned" in message


def test_a_move_in_flight_fails_the_refused_part() -> None:
    workload = record(
        ("a", 2, Phase.WORKLOAD_PHASE_RESERVED), ("b", 3, Phase.WORKLOAD_PHASE_RESERVED)
    )
    workload.placement.clusters[0].operation_id = "op-1"
    result = refuse(workload, fleet(Fake("a"), Fake("b")), ledger_for(workload))
    assert "a move is in flight" in failed(result)


def test_what_fits_nowhere_stays_failed_on_the_refused_part() -> None:
    workload = record(("b", 3, Phase.WORKLOAD_PHASE_RESERVED))
    ledger = ledger_for(workload)
    snapshot = fleet(Fake("a", nodes=1, node_cpu=1000, node_memory=2 * GI), Fake("b"))
    result = refuse(workload, snapshot, ledger)
    placed = parts(result)
    assert (placed["a"].replicas, placed["a"].replaces) == (1, "b")
    assert (placed["b"].replicas, placed["b"].phase) == (2, Phase.WORKLOAD_PHASE_FAILED)
    assert "2 replicas fit nowhere else" in placed["b"].message
    assert ledger.get("b", "r-b").replicas == 2  # type: ignore[union-attr]
    assert result.record is not None
    assert "1 replicas re-placed elsewhere, 2 fit nowhere" in result.record.message
