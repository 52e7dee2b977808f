"""The cross-cycle capacity cache gives exactly what a fresh build gives, whatever happened."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from unit.scheduler.scheduler_fleet import GI, Fake, reservation

from proxy.ledger import Ledger
from proxy.scheduler.capacity import CapacityCache, ClusterCapacity
from proxy.scheduler.resources import UNLIMITED, Quantity

SHAPES = [Quantity(500, GI // 2, 0, 1), Quantity(1000, GI, 0, 1), Quantity(3000, 4 * GI, 0, 1)]
CLUSTER = Fake("a", nodes=6, node_cpu=8000, node_memory=16 * GI)

# A step: (reservation id 0..5, replicas 0..6 where 0 releases, shape index)
steps = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 6), st.integers(0, 2)), min_size=1, max_size=25
)


def fresh(view: object, ledger: Ledger) -> ClusterCapacity | None:
    return ClusterCapacity.build(
        view,  # type: ignore[arg-type]
        ledger.reservations("a").values(),
        ledger.reserved("a"),
        1.0,
    )


@settings(max_examples=150, deadline=None)
@given(steps)
def test_incremental_capacity_equals_a_rebuild(sequence: list[tuple[int, int, int]]) -> None:
    view = CLUSTER.view()
    ledger = Ledger()
    cache = CapacityCache()
    big_allowance = Quantity(UNLIMITED, UNLIMITED, UNLIMITED, UNLIMITED)
    for rid, replicas, shape_index in sequence:
        shape = SHAPES[shape_index]
        if replicas == 0:
            ledger.release("a", f"r{rid}")
        else:
            item = reservation("a", replicas, shape.cpu_millis, shape.memory_bytes, rid=f"r{rid}")
            ledger.reserve(item, big_allowance)
        cached = cache.get(view, ledger, 1.0)
        rebuilt = fresh(view, ledger)
        assert cached is not None
        assert rebuilt is not None
        assert cached.reserved == rebuilt.reserved
        for probe in SHAPES:
            assert cached.max_replicas(probe) == rebuilt.max_replicas(probe)


def test_a_heartbeat_that_changes_no_capacity_input_keeps_the_cached_capacity() -> None:
    ledger = Ledger([reservation("a", 2, rid="r1")])
    cache = CapacityCache()
    first = cache.get(CLUSTER.view(), ledger, 1.0)
    later = CLUSTER.view()
    assert later.status is not None
    later.status.heartbeat.GetCurrentTime()
    later.status.hot_node_ratio = 0.5
    assert cache.get(later, ledger, 1.0) is first


def test_a_status_with_other_capacity_inputs_rebuilds_the_capacity() -> None:
    ledger = Ledger([reservation("a", 2, rid="r1")])
    cache = CapacityCache()
    first = cache.get(CLUSTER.view(), ledger, 1.0)
    for changed in (
        Fake("a", nodes=7, node_cpu=8000, node_memory=16 * GI),
        Fake("a", nodes=6, node_cpu=8000, node_memory=16 * GI, reservation_pods={"r1": 2}),
        Fake("a", nodes=6, node_cpu=8000, node_memory=16 * GI, foreign=Quantity(1000)),
    ):
        rebuilt = cache.get(changed.view(), ledger, 1.0)
        assert rebuilt is not first
        assert rebuilt == fresh(changed.view(), ledger)
        first = rebuilt
