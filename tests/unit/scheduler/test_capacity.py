"""Fit: aggregate headroom (invariant 2) and first-fit on node grades."""

from __future__ import annotations

from random import Random

from unit.scheduler.scheduler_fleet import GI, Fake, reservation

from proxy.scheduler.capacity import (
    MAX_BUCKETS,
    Bucket,
    ClusterCapacity,
    first_fit,
    unmaterialised,
)
from proxy.scheduler.resources import Quantity

ONE = Quantity(1000, GI, 0, 1)


def capacity(cluster: Fake, *reservations: object, overcommit: float = 1.0) -> ClusterCapacity:
    items = [item for item in reservations if not isinstance(item, Fake)]
    reserved = sum(
        (Quantity.shape(item.per_replica).times(item.replicas) for item in items), Quantity()
    )  # type: ignore[attr-defined]
    built = ClusterCapacity.build(cluster.view(), items, reserved, overcommit)  # type: ignore[arg-type]
    assert built is not None
    return built


def test_first_fit_fills_smallest_nodes_first_and_splits_a_grade() -> None:
    buckets = (Bucket(Quantity(2000, 2 * GI, 0, 10), 2), Bucket(Quantity(8000, 8 * GI, 0, 10), 1))
    after, placed = first_fit(buckets, ONE, 3)
    assert placed == 3
    assert after == (
        Bucket(Quantity(0, 0, 0, 8), 1),
        Bucket(Quantity(1000, GI, 0, 9), 1),
        Bucket(Quantity(8000, 8 * GI, 0, 10), 1),
    )


def test_a_node_that_takes_replicas_can_join_a_smaller_grade() -> None:
    small = Quantity(500, GI, 0, 9)  # too small for ONE
    buckets = (Bucket(small, 1), Bucket(small + ONE, 2))
    after, placed = first_fit(buckets, ONE, 1)
    assert placed == 1
    assert after == (Bucket(small, 2), Bucket(small + ONE, 1))


def test_first_fit_reports_what_did_not_fit() -> None:
    _, placed = first_fit((Bucket(Quantity(2000, 2 * GI, 0, 10), 1),), ONE, 5)
    assert placed == 2


def test_node_fit_is_lower_than_aggregate_when_nodes_are_small() -> None:
    cluster = Fake("a", nodes=4, node_cpu=1500, node_memory=64 * GI)
    fit = capacity(cluster)
    assert fit.aggregate_fit(ONE) == 6
    assert fit.node_fit(ONE) == 4
    assert fit.max_replicas(ONE) == 4


def test_unmaterialised_reservations_take_node_room_materialised_ones_do_not() -> None:
    cluster = Fake("a", nodes=2, node_cpu=4000, node_memory=4 * GI, reservation_pods={"x": 2})
    item = reservation("a", 3, rid="x")
    assert unmaterialised(item, cluster.status()) == 1  # type: ignore[arg-type]
    fit = capacity(cluster, item)
    assert fit.node_fit(ONE) == 7
    assert fit.aggregate_fit(ONE) == 5


def test_unmaterialised_clamps_at_zero() -> None:
    cluster = Fake("a", reservation_pods={"x": 9})
    assert unmaterialised(reservation("a", 3, rid="x"), cluster.status()) == 0  # type: ignore[arg-type]


def test_foreign_requests_and_overcommit_set_the_aggregate_limit() -> None:
    cluster = Fake(
        "a", nodes=1, node_cpu=10000, node_memory=100 * GI, foreign=Quantity(4000, 0, 0, 0)
    )
    assert capacity(cluster).aggregate_fit(ONE) == 6
    assert capacity(cluster, overcommit=0.5).aggregate_fit(ONE) == 1
    spec_wins = Fake("a", nodes=1, node_cpu=10000, node_memory=100 * GI, overcommit=0.8)
    assert capacity(spec_wins, overcommit=0.5).aggregate_fit(ONE) == 8


def test_without_grades_only_the_aggregate_limits() -> None:
    cluster = Fake("a", nodes=2, node_cpu=1500, with_grades=False)
    assert capacity(cluster).max_replicas(ONE) == 3


def test_no_status_means_unknown_capacity() -> None:
    assert ClusterCapacity.build(Fake("a", with_status=False).view(), [], Quantity(), 1.0) is None


def test_place_consumes_both_limits() -> None:
    fit = capacity(Fake("a", nodes=2, node_cpu=2000, node_memory=8 * GI))
    after = fit.place(ONE, 3)
    assert after.max_replicas(ONE) == 1
    assert after.reserved == ONE.times(3)


def test_many_distinct_grades_merge_into_lower_bounds() -> None:
    buckets = tuple(Bucket(Quantity(1000 + index, GI + index, 0, 10), 1) for index in range(40))
    merged, placed = first_fit(buckets, Quantity(1, 1, 0, 1), 0)
    assert placed == 0
    assert len(merged) <= MAX_BUCKETS
    assert sum(bucket.count for bucket in merged) == 40
    assert merged[0].free == Quantity(1000, GI, 0, 10)


def _node_by_node(
    buckets: tuple[Bucket, ...], shape: Quantity, replicas: int
) -> tuple[tuple[Bucket, ...], int]:
    """first_fit's meaning, one node at a time: each node in grade order takes what fits."""
    nodes = [bucket.free for bucket in buckets for _ in range(bucket.count)]
    left = replicas
    for index, free in enumerate(nodes):
        taken = min(free.copies(shape), left)
        nodes[index] = free - shape.times(taken)
        left -= taken
    normalised, _ = first_fit(tuple(Bucket(free, 1) for free in nodes), shape, 0)
    return normalised, replicas - left


def random_free(random: Random) -> Quantity:
    cpu = random.choice((500, 1000, 4000)) * random.randint(1, 8)
    return Quantity(cpu, random.choice((1, 2, 8)) * GI, 0, random.choice((3, 10, 110)))


def test_first_fit_matches_placing_node_by_node() -> None:
    """Both ways first_fit takes (one node takes every replica; several nodes fill up) give
    what filling node by node gives, merged into grades."""
    random = Random(7)
    for _ in range(400):
        grades = [
            Bucket(random_free(random), random.randint(1, 6))
            for _ in range(random.randint(1, MAX_BUCKETS + 2))
        ]
        buckets, _ = first_fit(tuple(grades), ONE, 0)
        shape = Quantity(random.choice((100, 1000, 3000)), random.choice((1, 2)) * GI // 4, 0, 1)
        replicas = random.randint(1, 12)
        assert first_fit(buckets, shape, replicas) == _node_by_node(buckets, shape, replicas)
