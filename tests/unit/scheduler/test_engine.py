"""The engine end to end: decisions, diagnosis, batches, equivalence classes, explain."""

from __future__ import annotations

import pytest
from unit.scheduler.scheduler_fleet import GI, Fake, fleet, request, reservation

from fed.v1 import types_pb2
from proxy.ledger import Ledger
from proxy.scheduler.cycle import tiebreak
from proxy.scheduler.engine import Engine
from proxy.scheduler.equivalence import ClassKey
from proxy.scheduler.model import PlacementRequest
from proxy.scheduler.policy import Policy, PolicyError
from proxy.scheduler.request_policy import RequestPolicies
from proxy.scheduler.status import Code

ENGINE = Engine()


def test_no_capacity_gives_a_reason_per_cluster() -> None:
    snapshot = fleet(
        Fake("small", nodes=1, node_cpu=1000),
        Fake("closed", state=types_pb2.ADMIN_STATE_CORDONED),
        Fake("sick", health=types_pb2.CLUSTER_HEALTH_FAILED),
    )
    decision = ENGINE.schedule(snapshot, Ledger(), request(5))
    assert decision.status.code is Code.UNSCHEDULABLE
    assert decision.unplaced == 5
    assert decision.reasons() == [
        "closed: cluster_state: cluster is cordoned",
        "sick: cluster_state: cluster health is failed",
        "5 replicas needed, room for 1 under the policy's limits",
    ]


def test_unresolvable_when_no_cluster_could_ever_take_it() -> None:
    snapshot = fleet(Fake("a", taints=(("gpu", "1", "NoSchedule"),)))
    decision = ENGINE.schedule(snapshot, Ledger(), request(1))
    assert decision.status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE


def test_schedule_does_not_touch_the_ledger_and_reserve_does() -> None:
    snapshot = fleet(Fake("a"))
    ledger = Ledger()
    item = request(3)
    decision = ENGINE.schedule(snapshot, ledger, item)
    assert list(ledger) == []
    changes = ENGINE.reserve(snapshot, ledger, item, decision)
    assert [(res.cluster, res.replicas) for res in changes.upserts] == [("a", 3)]
    assert ledger.reserved("a").cpu_millis == 3000


def test_batch_updates_the_ledger_between_requests() -> None:
    snapshot = fleet(Fake("a", nodes=1, node_cpu=4000, node_memory=64 * GI))
    outcomes = ENGINE.schedule_batch(
        snapshot, Ledger(), [request(3, workload=f"t/w{i}") for i in range(2)]
    )
    assert outcomes[0].decision.ok
    assert not outcomes[1].decision.ok


def test_batch_serves_higher_priority_first_and_answers_in_request_order() -> None:
    snapshot = fleet(Fake("a", nodes=1, node_cpu=3000, node_memory=64 * GI))
    low = request(3, workload="t/low")
    high = request(3, workload="t/high", priority=5)
    outcomes = ENGINE.schedule_batch(snapshot, Ledger(), [low, high])
    assert [item.decision.workload for item in outcomes] == ["t/low", "t/high"]
    assert [item.decision.ok for item in outcomes] == [False, True]


def test_scale_up_grows_the_existing_reservation() -> None:
    snapshot = fleet(Fake("a"), Fake("b"))
    ledger = Ledger([reservation("a", 2, rid="old-a", workload="team/app")])
    item = request(5, current={"a": 2})
    outcome = ENGINE.schedule_batch(snapshot, ledger, [item])[0]
    assert outcome.decision.replicas() == {"a": 5}
    assert [(res.id, res.replicas) for res in outcome.changes.upserts] == [("old-a", 5)]
    assert [res.id for res in ledger.reservations("a").values()] == ["old-a"]


def test_scale_down_shrinks_and_releases() -> None:
    snapshot = fleet(Fake("a"), Fake("b"))
    ledger = Ledger(
        [
            reservation("a", 4, rid="old-a", workload="team/app"),
            reservation("b", 1, rid="old-b", workload="team/app"),
        ]
    )
    item = request(2, current={"a": 4, "b": 1}, per_cluster_min=2)
    outcome = ENGINE.schedule_batch(snapshot, ledger, [item])[0]
    assert outcome.decision.replicas() == {"a": 2}
    assert [res.id for res in outcome.changes.releases] == ["old-b"]
    assert ledger.get("a", "old-a").replicas == 2  # type: ignore[union-attr]


def test_failover_moves_the_lost_replicas_and_releases_the_source() -> None:
    snapshot = fleet(Fake("a"), Fake("b"), Fake("c"))
    ledger = Ledger(
        [
            reservation("a", 2, rid="old-a", workload="team/app"),
            reservation("b", 2, rid="old-b", workload="team/app"),
        ]
    )
    item = request(4, current={"a": 2, "b": 2}, evacuate=("a",))
    outcome = ENGINE.schedule_batch(snapshot, ledger, [item])[0]
    totals = outcome.decision.replicas()
    assert "a" not in totals and sum(totals.values()) == 4 and totals["b"] >= 2
    assert [res.id for res in outcome.changes.releases] == ["old-a"]
    assert "evacuation" in {
        status.plugin for status in outcome.decision.diagnosis.rejected.values()
    }


def test_graceful_move_keeps_the_source_reservation() -> None:
    snapshot = fleet(Fake("a"), Fake("b"))
    ledger = Ledger([reservation("a", 2, rid="old-a", workload="team/app")])
    item = request(2, current={"a": 2}, evacuate=("a",))
    cycle = ENGINE.cycle(snapshot, ledger)
    changes = cycle.reserve(item, cycle.decide(item), release_evacuated=False)
    assert changes.releases == ()
    assert ledger.get("a", "old-a") is not None


def test_equal_scores_break_ties_without_alphabetical_bias() -> None:
    snapshot = fleet(*(Fake(f"c{index:02d}") for index in range(20)))
    firsts = {
        next(iter(ENGINE.schedule(snapshot, Ledger(), request(1, workload=f"t/w{n}")).replicas()))
        for n in range(40)
    }
    assert len(firsts) > 5
    ranked = sorted(range(20), key=lambda index: tiebreak("t/w0", f"c{index:02d}"))
    assert ranked != list(range(20))


def test_requests_differing_only_in_replicas_share_a_class() -> None:
    policies = RequestPolicies({"default": Policy()})

    def class_key(item: PlacementRequest) -> ClassKey:
        return policies.get(item.policy).class_key(item.shape)

    assert class_key(request(1)) == class_key(request(7, current={"a": 1}))
    assert class_key(request(1, cpu=1001)) == class_key(request(1, cpu=1009))
    assert class_key(request(1, cpu=1001)) != class_key(request(1, cpu=1011))
    assert class_key(request(1)) != class_key(request(1, regions=["eu"]))


def test_explain_lists_every_cluster_with_verdicts_and_scores() -> None:
    snapshot = fleet(Fake("a"), Fake("b", state=types_pb2.ADMIN_STATE_CORDONED))
    response = ENGINE.explain(snapshot, Ledger(), request(2))
    assert [item.cluster for item in response.clusters] == ["a", "b"]
    best, closed = response.clusters
    assert best.feasible and best.assigned_replicas == 2 and best.max_replicas == 32
    assert {score.plugin for score in best.scores} >= {"health", "free_capacity", "steadiness"}
    assert best.total_score == pytest.approx(sum(s.score * s.weight for s in best.scores))
    assert not closed.feasible and not closed.scores
    assert [v.plugin for v in closed.filters if not v.passed] == ["cluster_state"]
    assert [(item.cluster, item.replicas) for item in response.placement.clusters] == [("a", 2)]


def test_invalid_requests_name_the_field() -> None:
    with pytest.raises(PolicyError) as error:
        ENGINE.schedule(
            fleet(Fake("a")), Ledger(), request(1, per_cluster_min=3, per_cluster_max=2)
        )
    assert error.value.field == "spec.policy.per_cluster_min"
