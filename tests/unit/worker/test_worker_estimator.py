"""The estimator against the brute-force reference, on random clusters built incrementally."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from unit.worker.worker_reference import brute_force

from worker.cache import ClusterCache
from worker.estimator import Assumed, Shape, estimate
from worker.model import EventType, Node, Pod, Res, Taint, Toleration

LABELS = st.dictionaries(st.sampled_from(["zone", "disk", "gpu"]), st.sampled_from(["a", "b"]))
TAINTS = st.lists(
    st.builds(
        Taint,
        st.sampled_from(["dedicated", "gpu"]),
        st.sampled_from(["", "x"]),
        st.sampled_from(["NoSchedule", "NoExecute", "PreferNoSchedule"]),
    ),
    max_size=2,
).map(tuple)
TOLERATIONS = st.lists(
    st.builds(
        Toleration,
        st.sampled_from(["", "dedicated", "gpu"]),
        st.sampled_from(["Equal", "Exists"]),
        st.sampled_from(["", "x"]),
        st.sampled_from(["", "NoSchedule", "NoExecute"]),
    ),
    max_size=2,
).map(tuple)
RES = st.builds(
    Res,
    st.sampled_from([0, 100, 250, 500, 1000, 3000]),
    st.sampled_from([0, 2**27, 2**29, 2**30, 3 * 2**30]),
    st.sampled_from([0, 0, 1, 2]),
    st.just(0),
)


@st.composite
def clusters(draw: st.DrawFn) -> tuple[list[Node], list[Pod]]:
    count = draw(st.integers(1, 12))
    nodes = [
        Node(
            name=f"n{i:02d}",
            ready=draw(st.sampled_from([True, True, False])),
            unschedulable=draw(st.sampled_from([False, False, True])),
            labels=draw(LABELS),
            taints=draw(TAINTS),
            allocatable=Res(
                draw(st.sampled_from([2000, 4000, 8000])),
                draw(st.sampled_from([4 * 2**30, 8 * 2**30])),
                draw(st.sampled_from([0, 0, 4])),
                draw(st.sampled_from([5, 20, 110])),
            ),
        )
        for i in range(count)
    ]
    pods = [
        Pod(
            key=f"ns/p{i}",
            node=draw(st.sampled_from([*(n.name for n in nodes), "", "gone-node"])),
            phase=draw(st.sampled_from(["Running", "Running", "Pending", "Succeeded"])),
            requests=draw(RES.map(lambda r: Res(r.cpu, r.memory, r.gpu, 1))),
            workload=draw(st.sampled_from(["", "ns.web"])),
            reservation=draw(st.sampled_from(["", "r1"])),
            ready=draw(st.booleans()),
        )
        for i in range(draw(st.integers(0, 40)))
    ]
    return nodes, pods


@settings(max_examples=150, deadline=None)
@given(
    cluster=clusters(),
    per=RES,
    selector=LABELS,
    tolerations=TOLERATIONS,
    assumed=st.lists(st.tuples(RES, st.integers(0, 30)), max_size=3),
    limit=st.sampled_from([0, 0, 5]),
    churn=st.integers(0, 10),
)
def test_estimate_matches_brute_force(
    cluster: tuple[list[Node], list[Pod]],
    per: Res,
    selector: dict[str, str],
    tolerations: tuple[Toleration, ...],
    assumed: list[tuple[Res, int]],
    limit: int,
    churn: int,
) -> None:
    nodes, pods = cluster
    cache = ClusterCache()
    cache.replace_pods(pods[:churn])
    for node in nodes:
        cache.apply_node(EventType.ADDED, node)
    for pod in pods[churn:]:
        cache.apply_pod(EventType.ADDED, pod)
    for pod in pods[: churn // 2]:
        cache.apply_pod(EventType.DELETED, pod)
    live = pods[churn // 2 :]
    shape = Shape(per, tuple(sorted(selector.items())), tolerations)
    got = estimate(cache, shape, [Assumed(r, n) for r, n in assumed], limit)
    want = brute_force(nodes, live, per, selector, tolerations, assumed, limit)
    assert (got.max_replicas, got.nodes_considered) == want


def test_relist_replaces_the_cache_without_duplicates() -> None:
    node = Node("n1", True, False, {}, (), Res(4000, 2**33, 0, 110))
    pod = Pod("ns/a", "n1", "Running", Res(1000, 2**30, 0, 1), "", "", True)
    cache = ClusterCache()
    cache.replace_nodes([node])
    cache.replace_pods([pod])
    cache.replace_pods([pod])
    assert cache.nodes["n1"].requested == Res(1000, 2**30, 0, 1)
    cache.replace_pods([])
    assert cache.nodes["n1"].requested == Res()
    assert dict(cache.free_counts) == {Res(4000, 2**33, 0, 110): 1}
