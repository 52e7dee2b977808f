"""Division: dynamic weight, per-cluster limits, spread, gang, partial, scale and failover."""

from __future__ import annotations

import pytest

from proxy.scheduler.divide import Candidate, Rules, apportion, divide


def cands(*items: tuple[str, int], score: float = 50.0, group: str = "") -> list[Candidate]:
    return [Candidate(name, group or name, score, available) for name, available in items]


def own_group(cluster: str) -> str:
    return cluster


def test_dynamic_weight_reproduces_proportional_split_of_available_replicas() -> None:
    result = divide(cands(("a", 6), ("b", 12), ("c", 18)), {}, own_group, 12, Rules())
    assert dict(result.totals) == {"a": 2, "b": 4, "c": 6}


def test_per_cluster_min_honoured_where_weights_alone_would_not() -> None:
    candidates = [Candidate("a", "a", 50.0, 20), Candidate("b", "b", 50.0, 10)]
    without = divide(candidates, {}, own_group, 2, Rules())
    assert dict(without.totals) == {"a": 1, "b": 1}
    uneven = [Candidate("a", "a", 50.0, 200), Candidate("b", "b", 50.0, 10)]
    assert dict(divide(uneven, {}, own_group, 2, Rules()).totals) == {"a": 2}
    honoured = divide(uneven, {}, own_group, 2, Rules(per_cluster_min=1, min_clusters=2))
    assert dict(honoured.totals) == {"a": 1, "b": 1}


def test_per_cluster_min_keeps_clusters_at_or_above_it() -> None:
    result = divide(
        cands(("a", 100), ("b", 100), ("c", 100)), {}, own_group, 5, Rules(per_cluster_min=2)
    )
    assert all(count >= 2 for count in result.totals.values())
    assert sum(result.totals.values()) == 5


def test_per_cluster_max_caps_and_spills_over() -> None:
    short = divide(cands(("a", 100), ("b", 1)), {}, own_group, 6, Rules(per_cluster_max=4))
    assert (dict(short.totals), short.unplaced) == ({}, 6)
    partial = Rules(per_cluster_max=4, allow_partial=True)
    placed = divide(cands(("a", 100), ("b", 1)), {}, own_group, 6, partial)
    assert (dict(placed.totals), placed.unplaced) == ({"a": 4, "b": 1}, 1)
    fits = divide(cands(("a", 100), ("b", 100)), {}, own_group, 6, Rules(per_cluster_max=4))
    assert max(fits.totals.values()) <= 4 and sum(fits.totals.values()) == 6


def test_not_enough_room_fails_whole_without_partial() -> None:
    result = divide(cands(("a", 2), ("b", 3)), {}, own_group, 6, Rules())
    assert result.totals == {}
    assert result.unplaced == 6
    assert "6 replicas needed, room for 5" in result.limits[0]


def test_partial_places_what_fits() -> None:
    result = divide(cands(("a", 2), ("b", 3)), {}, own_group, 6, Rules(allow_partial=True))
    assert dict(result.totals) == {"a": 2, "b": 3}
    assert result.unplaced == 1


def test_gang_is_all_or_nothing_even_when_partial_is_asked() -> None:
    policy_rules = Rules(gang=True, allow_partial=False)
    result = divide(cands(("a", 2), ("b", 3)), {}, own_group, 6, policy_rules)
    assert result.totals == {} and result.unplaced == 6


def test_max_clusters_prefers_best_ranked() -> None:
    candidates = [
        Candidate("a", "a", 90.0, 10),
        Candidate("b", "b", 80.0, 10),
        Candidate("c", "c", 70.0, 10),
    ]
    result = divide(candidates, {}, own_group, 6, Rules(max_clusters=2))
    assert set(result.totals) == {"a", "b"}


def test_max_clusters_swaps_in_room_when_best_are_small() -> None:
    candidates = [
        Candidate("a", "a", 90.0, 1),
        Candidate("b", "b", 80.0, 1),
        Candidate("c", "c", 70.0, 10),
    ]
    result = divide(candidates, {}, own_group, 6, Rules(max_clusters=1))
    assert dict(result.totals) == {"c": 6}


def test_min_clusters_spreads_small_requests() -> None:
    candidates = [
        Candidate("a", "a", 90.0, 1000),
        Candidate("b", "b", 80.0, 1),
        Candidate("c", "c", 70.0, 1),
    ]
    result = divide(candidates, {}, own_group, 3, Rules(min_clusters=3))
    assert dict(result.totals) == {"a": 1, "b": 1, "c": 1}


def test_min_clusters_unreachable_fails() -> None:
    result = divide(cands(("a", 10)), {}, own_group, 3, Rules(min_clusters=2))
    assert result.unplaced == 3
    assert "min_clusters" in result.limits[0]


REGION = {"a1": "eu", "a2": "eu", "b1": "us", "c1": "ap"}


def regions(*items: tuple[str, int]) -> list[Candidate]:
    return [Candidate(name, REGION[name], 50.0, available) for name, available in items]


def test_spread_over_regions_with_max_skew() -> None:
    candidates = regions(("a1", 100), ("a2", 100), ("b1", 100), ("c1", 100))
    result = divide(candidates, {}, REGION.__getitem__, 9, Rules(topology="region", max_skew=1))
    per_region = {"eu": 0, "us": 0, "ap": 0}
    for cluster, count in result.totals.items():
        per_region[REGION[cluster]] += count
    assert sorted(per_region.values()) == [3, 3, 3]


def test_spread_fails_when_a_region_cannot_keep_up() -> None:
    candidates = regions(("a1", 100), ("b1", 1))
    result = divide(candidates, {}, REGION.__getitem__, 6, Rules(topology="region", max_skew=1))
    assert result.unplaced == 6
    assert "skew" in result.limits[0]
    partial = Rules(topology="region", max_skew=1, allow_partial=True)
    placed = divide(candidates, {}, REGION.__getitem__, 6, partial)
    assert dict(placed.totals) == {"a1": 2, "b1": 1}


def test_min_groups() -> None:
    candidates = regions(("a1", 100), ("a2", 100))
    result = divide(candidates, {}, REGION.__getitem__, 4, Rules(topology="region", min_groups=2))
    assert result.unplaced == 4
    wider = regions(("a1", 100), ("b1", 100))
    spread = divide(wider, {}, REGION.__getitem__, 4, Rules(topology="region", min_groups=2))
    assert dict(spread.totals) == {"a1": 2, "b1": 2}


def test_scale_up_prefers_clusters_already_used() -> None:
    candidates = cands(("a", 10), ("b", 100), ("c", 100))
    result = divide(candidates, {"a": 2}, own_group, 6, Rules())
    assert dict(result.totals) == {"a": 6}


def test_scale_up_opens_new_clusters_only_for_what_does_not_fit() -> None:
    candidates = cands(("a", 1), ("b", 100))
    result = divide(candidates, {"a": 2}, own_group, 6, Rules())
    assert result.totals["a"] == 3 and sum(result.totals.values()) == 6


def test_scale_down_removes_proportionally() -> None:
    result = divide(cands(("a", 0), ("b", 0)), {"a": 6, "b": 3}, own_group, 6, Rules())
    assert dict(result.totals) == {"a": 4, "b": 2}


def test_scale_down_never_leaves_a_cluster_below_min() -> None:
    result = divide([], {"a": 3, "b": 3}, own_group, 4, Rules(per_cluster_min=2))
    assert all(count >= 2 for count in result.totals.values())
    assert sum(result.totals.values()) == 4


def test_failover_replaces_only_the_lost_replicas() -> None:
    candidates = cands(("b", 100), ("c", 100))
    result = divide(candidates, {"b": 2}, own_group, 6, Rules(allow_partial=True))
    assert result.totals["b"] >= 2 and sum(result.totals.values()) == 6


@pytest.mark.parametrize(
    ("total", "items", "expected"),
    [
        (12, [("a", 6.0, 6), ("b", 12.0, 12), ("c", 18.0, 18)], {"a": 2, "b": 4, "c": 6}),
        (3, [("a", 1.0, 10), ("b", 1.0, 10)], {"a": 2, "b": 1}),
        (10, [("a", 9.0, 2), ("b", 1.0, 10)], {"a": 2, "b": 8}),
        (5, [("a", 0.0, 3), ("b", 1.0, 1)], {"a": 3, "b": 1}),
        (4, [("a", 1.0, 0), ("b", 0.0, 0)], {"a": 0, "b": 0}),
    ],
)
def test_apportion(
    total: int, items: list[tuple[str, float, int]], expected: dict[str, int]
) -> None:
    assert apportion(total, items) == expected
