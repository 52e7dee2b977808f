"""The class memo: per-cluster plugin results reused across cycles only while still valid."""

from __future__ import annotations

from unit.scheduler.scheduler_fleet import Fake, fleet, request

from fed.v1 import types_pb2
from proxy.ledger import Ledger
from proxy.scheduler.engine import Engine
from proxy.scheduler.framework import ClusterState, FilterPlugin, PluginContext
from proxy.scheduler.model import Snapshot
from proxy.scheduler.plugins.cluster_state import ClusterStateFilter
from proxy.scheduler.policy import NoArgs, Policy
from proxy.scheduler.registry import Entry, default_registry
from proxy.scheduler.status import Status


class _Spy(FilterPlugin):
    """cluster_state that notes each cluster it runs for: a cluster's static filters and
    class scores are run together, so this names the clusters whose results were rebuilt."""

    name = "cluster_state"

    def __init__(self, seen: list[str]) -> None:
        self._inner = ClusterStateFilter()
        self._seen = seen

    def filter(self, context: PluginContext, cluster: ClusterState) -> Status:
        self._seen.append(cluster.view.name)
        return self._inner.filter(context, cluster)


def _spied_engine() -> tuple[Engine, list[str]]:
    """An engine with the default policy, and the names its static filters ran for."""
    seen: list[str] = []
    registry = default_registry()
    registry.add_filter("cluster_state", Entry(NoArgs, lambda _args: _Spy(seen)))
    return Engine(registry=registry), seen


def test_a_later_batch_reruns_only_the_clusters_whose_reservations_changed() -> None:
    (engine, rerun), ledger = _spied_engine(), Ledger()
    snapshot = fleet(Fake("a"), Fake("b"), Fake("c"))
    (first,) = engine.schedule_batch(snapshot, ledger, [request(2, workload="t/one")])
    assert sorted(rerun) == ["a", "b", "c"]
    touched = {item.cluster for item in first.changes.upserts}
    rerun.clear()
    engine.schedule_batch(snapshot, ledger, [request(2, workload="t/two")])
    assert sorted(rerun) == sorted(touched)


def test_a_new_status_or_a_policy_reload_reruns_the_plugins() -> None:
    (engine, rerun), ledger = _spied_engine(), Ledger()
    engine.schedule_batch(fleet(Fake("a"), Fake("b")), ledger, [request(1, workload="t/x")])
    rerun.clear()
    engine.schedule_batch(fleet(Fake("a"), Fake("b")), ledger, [request(1, workload="t/y")])
    assert sorted(rerun) == ["a", "b"]
    snapshot = fleet(Fake("a"), Fake("b"))
    engine.schedule_batch(snapshot, ledger, [request(1, workload="t/z")])
    rerun.clear()
    engine.set_policies([Policy()])
    engine.schedule_batch(snapshot, ledger, [request(0, workload="t/w")])
    assert sorted(rerun) == ["a", "b"]


def test_decisions_with_a_warm_memo_equal_those_of_a_fresh_engine() -> None:
    snapshot = fleet(
        Fake("a", nodes=3), Fake("b", nodes=5, region="us"), Fake("c", nodes=2, zone="eu-b")
    )
    warm, warm_ledger, cold_ledger = Engine(), Ledger(), Ledger()
    for batch in range(8):
        requests = [request(1 + (batch + i) % 4, workload=f"t/w{batch}-{i}") for i in range(3)]
        kept = warm.schedule_batch(snapshot, warm_ledger, requests)
        fresh = Engine().schedule_batch(snapshot, cold_ledger, requests)
        assert [o.decision for o in kept] == [o.decision for o in fresh]


def test_scores_are_kept_while_reservations_stay_within_the_slack() -> None:
    """1,000 nodes of 8 cpus: one replica of 1 cpu is far below 1% of the cluster, so its
    scores stand; 100 replicas (1.25%) are not, so they are computed again."""
    (engine, rerun), ledger = _spied_engine(), Ledger()
    snapshot = fleet(Fake("big", nodes=1000))
    engine.schedule_batch(snapshot, ledger, [request(1, workload="t/one")])
    rerun.clear()
    engine.schedule_batch(snapshot, ledger, [request(1, workload="t/two")])
    assert rerun == []
    engine.schedule_batch(snapshot, ledger, [request(100, workload="t/three")])
    engine.schedule_batch(snapshot, ledger, [request(1, workload="t/four")])
    assert rerun == ["big"]


def test_unchanged_clusters_keep_their_views_from_one_snapshot_to_the_next() -> None:
    first = fleet(Fake("a"), Fake("b"))
    a, b = first.clusters
    status = types_pb2.ClusterStatus()
    status.CopyFrom(b.status)
    status.api_latency_p99_ms = 900
    health = {"a": a.health, "b": b.health}
    second = Snapshot.build([a.spec, b.spec], {"a": a.status, "b": status}, health, first)
    assert second.clusters[0] is a
    assert second.clusters[1] is not b and second.clusters[1].status is status


def test_a_class_with_unchanged_views_and_results_is_reused_whole() -> None:
    engine, ledger = Engine(), Ledger()
    snapshot = fleet(Fake("a"), Fake("b"))
    first = engine.cycle(snapshot, ledger).equivalence_class(request(1, workload="t/one"))
    again = engine.cycle(snapshot, ledger).equivalence_class(request(1, workload="t/two"))
    assert again is first
    bigger = fleet(Fake("a"), Fake("b", nodes=8))
    rebuilt = engine.cycle(bigger, ledger).equivalence_class(request(1, workload="t/three"))
    assert rebuilt is not first
    assert rebuilt.fresh["b"] != first.fresh["b"]  # b's capacity scores moved with its size


def _republished(previous: Snapshot, name: str, change: str = "") -> Snapshot:
    """`previous` after cluster `name` published its status again: a later heartbeat time,
    and (with `change`) a different API latency."""
    statuses = {view.name: view.status for view in previous.clusters if view.status}
    status = types_pb2.ClusterStatus()
    status.CopyFrom(statuses[name])
    status.heartbeat.seconds += 5
    if change:
        status.api_latency_p99_ms += 100
    statuses[name] = status
    health = {view.name: view.health for view in previous.clusters}
    return Snapshot.build([view.spec for view in previous.clusters], statuses, health, previous)


def test_a_heartbeat_alone_reruns_nothing_yet_the_class_holds_the_new_view() -> None:
    (engine, rerun), ledger = _spied_engine(), Ledger()
    first = fleet(Fake("a", nodes=1000), Fake("b", nodes=1000))  # one replica is within slack
    engine.schedule_batch(first, ledger, [request(1, workload="t/one")])
    rerun.clear()
    beat = _republished(first, "b")
    found = engine.cycle(beat, ledger).equivalence_class(request(1, workload="t/two"))
    assert rerun == []
    assert [view.status for view in found.passed] == [view.status for view in beat.clusters]
    changed = _republished(beat, "b", change="latency")
    engine.cycle(changed, ledger).equivalence_class(request(1, workload="t/three"))
    assert rerun == ["b"]
