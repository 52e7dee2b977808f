"""ClusterInfo.last_scores: each cluster's breakdown in the latest batch that scored it."""

from __future__ import annotations

from unit.scheduler.scheduler_fleet import Fake, fleet, request

from fed.v1 import types_pb2
from proxy.ledger import Ledger
from proxy.scheduler.engine import Engine
from proxy.scheduler.policy import Policy, ScoreSpec


def breakdown(engine: Engine, cluster: str) -> dict[str, tuple[float, float]]:
    return {s.plugin: (s.score, s.weight) for s in engine.last_scores.get(cluster)}


def test_a_batch_records_what_explain_shows_for_every_scored_cluster() -> None:
    engine = Engine()
    snapshot = fleet(
        Fake("a", latency_ms=900), Fake("b"), Fake("shut", state=types_pb2.ADMIN_STATE_CORDONED)
    )
    assert engine.last_scores.get("a") == []
    engine.schedule_batch(snapshot, Ledger(), [request(2, weights={"health": 4.0})])
    explained = engine.explain(snapshot, Ledger(), request(2, weights={"health": 4.0}))
    for item in explained.clusters:
        if not item.feasible:
            continue
        recorded = engine.last_scores.get(item.cluster)
        expected = [s for s in item.scores if s.plugin != "steadiness"]  # per request
        assert recorded == expected, item.cluster
    assert breakdown(engine, "a")["health"][1] == 4.0
    assert breakdown(engine, "a")["health"][0] < breakdown(engine, "b")["health"][0]
    assert engine.last_scores.get("shut") == [], "a cluster filtered out was not scored"


def test_the_latest_batch_wins_and_explain_or_schedule_alone_record_nothing() -> None:
    lean = Policy(name="lean", scores=(ScoreSpec("free_capacity", 5.0),))
    engine = Engine([lean])
    snapshot = fleet(Fake("a"), Fake("b"))
    engine.explain(snapshot, Ledger(), request(1))
    engine.schedule(snapshot, Ledger(), request(1))
    assert len(engine.last_scores) == 0
    engine.schedule_batch(snapshot, Ledger(), [request(1)])
    assert "health" in breakdown(engine, "a")
    engine.schedule_batch(snapshot, Ledger(), [request(1, workload="t/x", name="lean")])
    assert breakdown(engine, "a").keys() == {"free_capacity"}
    assert breakdown(engine, "a")["free_capacity"][1] == 5.0
    engine.last_scores.clear()
    assert engine.last_scores.get("a") == []
