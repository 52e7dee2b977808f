"""Table-driven tests of each score plugin, and of weights changing the ranking."""

from __future__ import annotations

import pytest
from unit.scheduler.scheduler_fleet import GI, Fake, fleet, request

from fed.v1 import types_pb2
from proxy.ledger import Ledger
from proxy.scheduler.capacity import ClusterCapacity
from proxy.scheduler.engine import Engine
from proxy.scheduler.framework import ClusterState, PluginContext, ScorePlugin
from proxy.scheduler.plugins.balanced import BalancedScore
from proxy.scheduler.plugins.fragmentation import FragmentationScore
from proxy.scheduler.plugins.free_capacity import FreeCapacityScore
from proxy.scheduler.plugins.health import HealthScore
from proxy.scheduler.plugins.hotspot import HotspotScore
from proxy.scheduler.plugins.locality import LocalityScore
from proxy.scheduler.plugins.steadiness import SteadinessScore
from proxy.scheduler.plugins.taint_toleration import TaintTolerationScore
from proxy.scheduler.policy import HealthArgs, HotspotArgs, Policy, ScoreSpec
from proxy.scheduler.resources import Quantity
from proxy.scheduler.selection import Selection

ONE = Quantity(1000, GI, 0, 1)


def score(
    plugin: ScorePlugin,
    cluster: Fake,
    policy: types_pb2.PlacementPolicy | None = None,
    held: dict[str, int] | None = None,
) -> tuple[float, str]:
    view = cluster.view()
    capacity = ClusterCapacity.build(view, [], Quantity(), 1.0)
    selection = Selection.from_policy(policy or types_pb2.PlacementPolicy())
    result = plugin.score(PluginContext(ONE, selection, held or {}), ClusterState(view, capacity))
    return round(result.clamped().value, 3), result.reason


@pytest.mark.parametrize(
    ("cluster", "expected", "reason"),
    [
        (Fake("a", nodes=1, node_cpu=10000, node_memory=10 * GI), 90.0, "cpu 90%, memory 90%"),
        (Fake("a", nodes=1, node_cpu=2000, node_memory=10 * GI), 70.0, "cpu 50%, memory 90%"),
        (
            Fake(
                "a", nodes=1, node_cpu=10000, node_memory=10 * GI, foreign=Quantity(9000, 0, 0, 0)
            ),
            45.0,
            "cpu 0%, memory 90%",
        ),
        (Fake("a", with_status=False), 0.0, "no status published"),
    ],
)
def test_free_capacity(cluster: Fake, expected: float, reason: str) -> None:
    value, why = score(FreeCapacityScore(), cluster)
    assert value == expected
    assert reason in why


@pytest.mark.parametrize(
    ("cluster", "expected"),
    [
        (Fake("a", nodes=1, node_cpu=10000, node_memory=10 * GI), 100.0),
        (Fake("a", nodes=1, node_cpu=2000, node_memory=10 * GI), 80.0),
        (Fake("a", nodes=1, node_cpu=1000, node_memory=100 * GI), 50.5),
    ],
)
def test_balanced(cluster: Fake, expected: float) -> None:
    assert score(BalancedScore(), cluster)[0] == expected


@pytest.mark.parametrize(
    ("hot", "peak", "weight", "expected"),
    [
        (0.0, 0.0, 0.5, 100.0),
        (0.5, 0.0, 0.5, 75.0),
        (0.0, 0.8, 0.5, 60.0),
        (1.0, 1.0, 0.5, 0.0),
        (0.5, 0.0, 0.0, 50.0),
        (0.5, 0.0, 1.0, 100.0),
    ],
)
def test_hotspot(hot: float, peak: float, weight: float, expected: float) -> None:
    cluster = Fake("a", hot_ratio=hot, peak=peak)
    assert score(HotspotScore(HotspotArgs(peak_weight=weight)), cluster)[0] == expected


@pytest.mark.parametrize(
    ("cluster", "expected"),
    [
        (Fake("a", nodes=2, node_cpu=4000, node_memory=4 * GI), 100.0),
        (Fake("a", nodes=2, node_cpu=4000, node_memory=4 * GI, fragmentation=0.4), 80.0),
        (Fake("a", nodes=2, node_cpu=1500, node_memory=4 * GI), 87.5),
        (Fake("a", nodes=2, node_cpu=1500, fragmentation=0.4, with_grades=False), 60.0),
    ],
)
def test_fragmentation(cluster: Fake, expected: float) -> None:
    assert score(FragmentationScore(), cluster)[0] == expected


@pytest.mark.parametrize(
    ("cluster", "expected"),
    [
        (Fake("a", latency_ms=50, error_rate=0.0), 100.0),
        (Fake("a", latency_ms=1050, error_rate=0.0), 83.333),
        (Fake("a", latency_ms=5000, error_rate=0.0), 66.667),
        (Fake("a", latency_ms=50, error_rate=0.05), 83.333),
        (Fake("a", latency_ms=50, nodes=4, nodes_ready=2), 83.333),
        (Fake("a", latency_ms=5000, error_rate=1.0, nodes_ready=0), 0.0),
    ],
)
def test_health(cluster: Fake, expected: float) -> None:
    assert score(HealthScore(HealthArgs()), cluster)[0] == expected


@pytest.mark.parametrize(
    ("cluster", "policy", "expected"),
    [
        (Fake("a"), types_pb2.PlacementPolicy(), 0.0),
        (Fake("a"), types_pb2.PlacementPolicy(preferred_regions=["us", "eu"]), 100.0),
        (Fake("a"), types_pb2.PlacementPolicy(preferred_regions=["us"]), 0.0),
        (
            Fake("a", labels={"ssd": "yes"}),
            types_pb2.PlacementPolicy(preferred_labels={"ssd": "yes", "pci": "yes"}),
            50.0,
        ),
        (
            Fake("a", labels={"ssd": "yes"}),
            types_pb2.PlacementPolicy(preferred_regions=["eu"], preferred_labels={"ssd": "yes"}),
            100.0,
        ),
    ],
)
def test_locality(cluster: Fake, policy: types_pb2.PlacementPolicy, expected: float) -> None:
    assert score(LocalityScore(), cluster, policy)[0] == expected


@pytest.mark.parametrize(("held", "expected"), [({}, 0.0), ({"a": 2}, 100.0), ({"b": 2}, 0.0)])
def test_steadiness(held: dict[str, int], expected: float) -> None:
    assert score(SteadinessScore(), Fake("a"), held=held)[0] == expected


def test_taint_toleration_score_normalises_prefer_no_schedule_counts() -> None:
    plugin = TaintTolerationScore()
    soft = "PreferNoSchedule"
    clusters = {
        "none": Fake("none"),
        "one": Fake("one", taints=(("x", "1", soft),)),
        "two": Fake("two", taints=(("x", "1", soft), ("y", "1", soft))),
        "tolerated": Fake("tolerated", taints=(("t", "1", soft),)),
    }
    policy = types_pb2.PlacementPolicy(
        tolerations=[types_pb2.Toleration(key="t", operator="Exists")]
    )
    context = PluginContext(ONE, Selection.from_policy(policy))
    raw = {
        name: plugin.score(context, ClusterState(item.view(), None))
        for name, item in clusters.items()
    }
    normalised = {name: item.value for name, item in plugin.normalize(raw).items()}
    assert normalised == {"none": 100.0, "one": 50.0, "two": 0.0, "tolerated": 100.0}


def ranking(engine: Engine, **weights: float) -> list[str]:
    snapshot = fleet(
        Fake("roomy", nodes=8, latency_ms=2000),
        Fake("healthy", nodes=1, node_cpu=2000, latency_ms=10),
    )
    explanation = engine.explain(snapshot, Ledger(), request(1, weights=weights))
    return [item.cluster for item in explanation.clusters]


def test_changing_one_weight_changes_the_ranking() -> None:
    engine = Engine()
    assert ranking(engine) == ["roomy", "healthy"]
    assert ranking(engine, health=3.0) == ["healthy", "roomy"]


def test_policy_weights_change_the_ranking() -> None:
    scores = (ScoreSpec("free_capacity", 1.0), ScoreSpec("health", 5.0, HealthArgs()))
    engine = Engine([Policy(name="default", scores=scores)])
    assert ranking(engine) == ["healthy", "roomy"]
