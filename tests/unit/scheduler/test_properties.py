"""Property tests over random fleets and request streams."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from unit.scheduler.scheduler_fleet import GI, Fake, fleet, request

from fed.v1 import types_pb2
from proxy.ledger import Ledger
from proxy.scheduler.divide import apportion
from proxy.scheduler.engine import Engine, Outcome
from proxy.scheduler.model import PlacementRequest, Snapshot
from proxy.scheduler.resources import Quantity

ENGINE = Engine()
PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REGIONS = ("eu", "us", "ap")


@st.composite
def clusters(draw: st.DrawFn, index: int) -> Fake:
    region = draw(st.sampled_from(REGIONS))
    return Fake(
        name=f"c{index}",
        region=region,
        zone=f"{region}-{draw(st.sampled_from('ab'))}",
        nodes=draw(st.integers(1, 4)),
        node_cpu=draw(st.integers(1, 16)) * 500,
        node_memory=draw(st.integers(1, 16)) * GI,
        node_pods=draw(st.sampled_from((3, 20, 110))),
        foreign=Quantity(draw(st.integers(0, 4)) * 1000, draw(st.integers(0, 4)) * GI, 0, 0),
        state=draw(
            st.sampled_from([types_pb2.ADMIN_STATE_ACTIVE] * 4 + [types_pb2.ADMIN_STATE_CORDONED])
        ),
        health=draw(
            st.sampled_from(
                [types_pb2.CLUSTER_HEALTH_READY] * 4 + [types_pb2.CLUSTER_HEALTH_SUSPECT]
            )
        ),
        overcommit=draw(st.sampled_from((0.0, 0.8, 1.5))),
        with_grades=draw(st.booleans()),
        latency_ms=draw(st.floats(1, 3000)),
        hot_ratio=draw(st.floats(0, 1)),
    )


@st.composite
def fleets(draw: st.DrawFn) -> tuple[list[Fake], Snapshot]:
    count = draw(st.integers(1, 8))
    fakes = [draw(clusters(index)) for index in range(count)]
    return fakes, fleet(*fakes)


@st.composite
def policies(draw: st.DrawFn) -> dict[str, object]:
    policy: dict[str, object] = {}
    low = draw(st.integers(0, 3))
    high = draw(st.sampled_from((0, low + draw(st.integers(0, 4)))))
    policy["per_cluster_min"], policy["per_cluster_max"] = low, high
    min_clusters = draw(st.integers(0, 3))
    policy["min_clusters"] = min_clusters
    policy["max_clusters"] = draw(st.sampled_from((0, min_clusters + draw(st.integers(0, 3)))))
    mode = draw(st.sampled_from(("strict", "gang", "partial")))
    policy["gang"], policy["allow_partial"] = mode == "gang", mode == "partial"
    topology = draw(st.sampled_from(("", "", "region", "zone", "cluster")))
    if topology:
        policy["spread"] = types_pb2.SpreadConstraint(
            topology=topology,
            max_skew=draw(st.integers(0, 3)),
            min_groups=draw(st.integers(0, 3)),
        )
    if draw(st.booleans()):
        policy["regions"] = draw(st.lists(st.sampled_from(REGIONS), min_size=1, max_size=2))
    return policy


@st.composite
def requests(draw: st.DrawFn) -> list[PlacementRequest]:
    count = draw(st.integers(1, 8))
    return [
        request(
            replicas=draw(st.integers(0, 24)),
            cpu=draw(st.sampled_from((250, 500, 1000, 2000))),
            memory=draw(st.sampled_from((GI // 2, GI, 2 * GI))),
            workload=f"team/app{index}",
            priority=draw(st.integers(0, 2)),
            **draw(policies()),
        )
        for index in range(count)
    ]


def limit(fake: Fake) -> Quantity:
    status = fake.status()
    assert status is not None
    return Quantity.from_proto(status.allocatable).scaled(fake.overcommit or 1.0)


def assert_never_over_committed(fakes: list[Fake], ledger: Ledger) -> None:
    for fake in fakes:
        reserved = ledger.reserved(fake.name)
        assert (fake.foreign + reserved).exceeded(limit(fake), reserved) == []


@dataclass(frozen=True)
class Groups:
    fakes: dict[str, Fake]

    def of(self, cluster: str, topology: str) -> str:
        fake = self.fakes[cluster]
        return {"region": fake.region, "zone": fake.zone}.get(topology, cluster)


def assert_constraints_hold(fakes: list[Fake], item: PlacementRequest, outcome: Outcome) -> None:
    totals = outcome.decision.replicas()
    policy = item.policy
    by_name = {fake.name: fake for fake in fakes}
    for cluster, count in totals.items():
        fake = by_name[cluster]
        assert fake.state == types_pb2.ADMIN_STATE_ACTIVE
        assert fake.health == types_pb2.CLUSTER_HEALTH_READY
        assert not policy.regions or fake.region in policy.regions
        assert count >= policy.per_cluster_min
        assert not policy.per_cluster_max or count <= policy.per_cluster_max
    if not totals:
        return
    assert len(totals) >= policy.min_clusters
    assert not policy.max_clusters or len(totals) <= policy.max_clusters
    topology = policy.spread.topology
    if topology:
        groups: dict[str, int] = {}
        for cluster, count in totals.items():
            key = Groups(by_name).of(cluster, topology)
            groups[key] = groups.get(key, 0) + count
        assert len(groups) >= policy.spread.min_groups
        skew = max(groups.values()) - min(groups.values())
        assert not policy.spread.max_skew or skew <= policy.spread.max_skew


@PROFILE
@given(fleets(), requests())
def test_batch_never_over_commits_and_honours_every_rule(
    generated: tuple[list[Fake], Snapshot], stream: list[PlacementRequest]
) -> None:
    fakes, snapshot = generated
    ledger = Ledger()
    outcomes = ENGINE.schedule_batch(snapshot, ledger, stream)
    assert_never_over_committed(fakes, ledger)
    for item, outcome in zip(stream, outcomes, strict=True):
        decision = outcome.decision
        placed = sum(decision.replicas().values())
        if decision.ok:
            assert placed + decision.unplaced == item.replicas
            assert decision.unplaced == 0 or item.policy.allow_partial
            assert_constraints_hold(fakes, item, outcome)
        else:
            assert placed == 0 and decision.reasons()
        if item.policy.gang:
            assert placed in (0, item.replicas)


@PROFILE
@given(fleets(), requests())
def test_batch_is_deterministic_and_classes_change_nothing_but_speed(
    generated: tuple[list[Fake], Snapshot], stream: list[PlacementRequest]
) -> None:
    fakes, snapshot = generated
    first = ENGINE.schedule_batch(snapshot, Ledger(), stream)
    again = ENGINE.schedule_batch(snapshot, Ledger(), stream)
    assert first == again
    unshared_ledger = Ledger()
    ENGINE.schedule_batch(snapshot, unshared_ledger, stream, share_classes=False)
    assert_never_over_committed(fakes, unshared_ledger)


@PROFILE
@given(fleets(), st.integers(1, 30), st.integers(0, 30))
def test_scaling_reaches_the_new_count_and_failover_avoids_the_lost_cluster(
    generated: tuple[list[Fake], Snapshot], first: int, second: int
) -> None:
    fakes, snapshot = generated
    ledger = Ledger()
    start = request(first, cpu=500, memory=GI // 2, allow_partial=True)
    placed = ENGINE.schedule_batch(snapshot, ledger, [start])[0].decision
    current = placed.replicas()
    scaled = request(second, cpu=500, memory=GI // 2, current=current, allow_partial=True)
    decision = ENGINE.schedule_batch(snapshot, ledger, [scaled])[0].decision
    assert decision.ok or decision.unplaced > 0
    if decision.ok:
        assert sum(decision.replicas().values()) + decision.unplaced == second
    assert_never_over_committed(fakes, ledger)
    if current:
        lost = sorted(current)[0]
        move = request(first, cpu=500, memory=GI // 2, current=current, evacuate=(lost,))
        moved = ENGINE.schedule(snapshot, ledger, move)
        if moved.ok:
            assert lost not in moved.replicas()
            assert sum(moved.replicas().values()) + moved.unplaced == first
        else:
            assert moved.replicas() == current


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 200),
    st.lists(st.tuples(st.floats(0, 100), st.integers(0, 50)), min_size=1, max_size=8),
)
def test_apportion_gives_what_fits_and_never_above_a_cap(
    total: int, items: list[tuple[float, int]]
) -> None:
    named = [(f"k{index}", weight, cap) for index, (weight, cap) in enumerate(items)]
    given_out = apportion(total, named)
    assert sum(given_out.values()) == min(total, sum(cap for _, _, cap in named))
    assert all(0 <= given_out[key] <= cap for key, _, cap in named)


def _largest_remainder_by_sorting(total: int, weights: list[float]) -> list[int]:
    """Largest remainder over every item with a positive weight, ranked by a full sort
    (fraction, then position): what apportion gives when no cap is reached."""
    active = [index for index, weight in enumerate(weights) if weight > 0]
    whole = 0.0
    for index in active:
        whole += weights[index]
    quotas = {index: total * weights[index] / whole for index in active}
    given = [0] * len(weights)
    for index in active:
        given[index] = math.floor(quotas[index])
    extra = total - sum(given)
    for index in sorted(active, key=lambda index: (-(quotas[index] % 1), index))[:extra]:
        given[index] += 1
    return given


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 12),
    st.lists(st.sampled_from([0.0, 1.0, 2.5, 7.0, 40.0]), min_size=65, max_size=400),
)
def test_a_few_replicas_over_a_large_fleet_go_where_a_full_ranking_puts_them(
    total: int, weights: list[float]
) -> None:
    """Over many clusters apportion picks the largest fractions with a heap; ties (equal
    weights are common in a fleet of alike clusters) still go to the earlier cluster."""
    if not any(weights):
        weights[0] = 1.0
    named = [(f"k{index}", weight, 10**6) for index, weight in enumerate(weights)]
    given_out = apportion(total, named)
    assert [given_out[key] for key, _, _ in named] == _largest_remainder_by_sorting(total, weights)
