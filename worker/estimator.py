"""How many replicas of a shape fit, node by node, from the cache.

Semantics (the brute-force reference in the tests follows the same rules):
- a node is eligible for the shape when it is Ready, not cordoned, carries every label of
  the node selector and tolerates each of its NoSchedule/NoExecute taints;
- a node takes floor(free / per-replica) replicas in every requested dimension (dimensions
  the shape does not request are not checked, as in kube-scheduler); pods slots always count;
- the assumed reservations are first fitted before, in the order given, onto the plain nodes
  (Ready, not cordoned, no NoSchedule/NoExecute taint) in node-name order; what does not fit
  anywhere is dropped.

Plain nodes are counted through the multiset of their free capacities, so that the usual
request (no selector) costs one pass over the distinct free vectors, not over the nodes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from worker.cache import ClusterCache, NodeState
from worker.model import Res, Toleration

Fit = Callable[[Res], int]


@dataclass(frozen=True, slots=True)
class Shape:
    per_replica: Res
    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[Toleration, ...] = ()


@dataclass(frozen=True, slots=True)
class Assumed:
    per_replica: Res
    replicas: int


@dataclass(frozen=True, slots=True)
class Estimate:
    max_replicas: int
    nodes_considered: int
    generation: int


def fitter(per: Res) -> Fit:
    """floor(free / per) over the requested dimensions (pod slots always), never below 0."""
    cpu, memory, gpu, pods = per.cpu, per.memory, per.gpu, per.pods or 1

    def fit(free: Res) -> int:
        n = free.pods // pods
        if cpu and n > 0:
            n = min(n, free.cpu // cpu)
        if memory and n > 0:
            n = min(n, free.memory // memory)
        if gpu and n > 0:
            n = min(n, free.gpu // gpu)
        return n if n > 0 else 0

    return fit


def slots(per: Res) -> Res:
    """A per-replica shape with its pod slot made explicit (0 means 1)."""
    return per if per.pods else Res(per.cpu, per.memory, per.gpu, 1)


def tolerated(state: NodeState, tolerations: Sequence[Toleration]) -> bool:
    return all(any(t.tolerates(taint) for t in tolerations) for taint in state.hard_taints)


def place_assumed(cache: ClusterCache, assumed: Iterable[Assumed]) -> dict[str, Res]:
    """First-fit the reservations onto plain nodes; returns the free capacity they change."""
    changed: dict[str, Res] = {}
    names = cache.sorted_names()
    nodes = cache.nodes
    for reservation in assumed:
        remaining = reservation.replicas
        if remaining <= 0:
            continue
        per = slots(reservation.per_replica)
        fit = fitter(per)
        for name in names:
            state = nodes[name]
            if not state.plain:
                continue
            free = changed.get(name, state.free)
            take = min(fit(free), remaining)
            if take:
                changed[name] = free - per.times(take)
                remaining -= take
                if not remaining:
                    break
    return changed


def _count_selected(
    cache: ClusterCache, shape: Shape, changed: dict[str, Res], fit: Fit
) -> tuple[int, int]:
    """Several selector labels: intersect the label index, then fit node by node."""
    sets = sorted((cache.nodes_with_label(k, v) for k, v in shape.node_selector), key=len)
    nodes = cache.nodes
    total = considered = 0
    for name in sets[0].intersection(*sets[1:]):
        state = nodes[name]
        if state.plain or (state.node.schedulable and tolerated(state, shape.tolerations)):
            considered += 1
            total += fit(changed.get(name, state.free))
    return total, considered


def _count_plain(
    cache: ClusterCache,
    shape: Shape,
    changed: dict[str, Res],
    fit: Fit,
    members: Callable[[str], bool],
) -> tuple[int, int]:
    """The plain nodes through their free-capacity multiset, plus tolerated tainted nodes."""
    label = shape.node_selector[0] if shape.node_selector else None
    counts = cache.free_counts if label is None else cache.label_free.get(label, Counter())
    total = considered = 0
    for free, count in counts.items():
        total += fit(free) * count
        considered += count
    for name, free in changed.items():
        if members(name):
            total += fit(free) - fit(cache.nodes[name].free)
    for name in cache.tainted:
        state = cache.nodes[name]
        if members(name) and tolerated(state, shape.tolerations):
            considered += 1
            total += fit(state.free)
    return total, considered


def estimate(
    cache: ClusterCache, shape: Shape, assumed: Sequence[Assumed] = (), limit: int = 0
) -> Estimate:
    changed = place_assumed(cache, assumed)
    fit = fitter(shape.per_replica)
    if len(shape.node_selector) > 1:
        total, considered = _count_selected(cache, shape, changed, fit)
    elif shape.node_selector:
        key, value = shape.node_selector[0]
        nodes = cache.nodes
        total, considered = _count_plain(
            cache, shape, changed, fit, lambda name: nodes[name].node.labels.get(key) == value
        )
    else:
        total, considered = _count_plain(cache, shape, changed, fit, lambda _: True)
    if limit > 0:
        total = min(total, limit)
    return Estimate(total, considered, cache.generation)
