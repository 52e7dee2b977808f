"""The informer cache of one cluster: nodes, pods and per-node free capacity kept incrementally.

Every change updates the aggregates at once (requested per node, the multiset of free
capacities of plain nodes, label index, federation counters), so that estimates and status
never scan the pods.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from worker.model import ZERO, EventType, Node, Pod, Res, Taint


@dataclass(slots=True)
class NodeState:
    node: Node
    requested: Res = ZERO
    pods: int = 0
    plain: bool = False  # schedulable and without NoSchedule/NoExecute taints
    free: Res = ZERO
    hard_taints: tuple[Taint, ...] = ()

    @classmethod
    def of(cls, node: Node, requested: Res, pods: int) -> NodeState:
        hard = node.hard_taints
        plain = node.schedulable and not hard
        return cls(node, requested, pods, plain, node.allocatable - requested, hard)


@dataclass(slots=True)
class WorkloadPods:
    pods: int = 0
    ready: int = 0


@dataclass
class Totals:
    foreign_requested: Res = ZERO
    federated_requested: Res = ZERO
    pending: int = 0
    reservation_pods: Counter[str] = field(default_factory=Counter)
    workloads: dict[str, WorkloadPods] = field(default_factory=dict)


class ClusterCache:
    """Nodes and pods of one cluster with the aggregates estimates and status read."""

    def __init__(self, on_change: Callable[[], None] = lambda: None) -> None:
        self.nodes: dict[str, NodeState] = {}
        self.pods: dict[str, Pod] = {}
        self.generation = 0
        self.nodes_synced = False
        self.pods_synced = False
        self.free_counts: Counter[Res] = Counter()
        self.label_free: dict[tuple[str, str], Counter[Res]] = {}
        self.tainted: set[str] = set()
        self.totals = Totals()
        self._requested: dict[str, Res] = {}
        self._pod_count: Counter[str] = Counter()
        self._labels: dict[tuple[str, str], set[str]] = {}
        self._sorted: list[str] | None = None
        self._on_change = on_change

    @property
    def synced(self) -> bool:
        return self.nodes_synced and self.pods_synced

    def _changed(self) -> None:
        self.generation += 1
        self._on_change()

    # ---------------------------------------------------------------- nodes

    def sorted_names(self) -> list[str]:
        if self._sorted is None:
            self._sorted = sorted(self.nodes)
        return self._sorted

    def nodes_with_label(self, key: str, value: str) -> set[str]:
        return self._labels.get((key, value), set())

    def apply_node(self, kind: EventType, node: Node) -> None:
        if kind is EventType.DELETED:
            self._remove_node(node.name)
        else:
            self._upsert_node(node)
        self._changed()

    def replace_nodes(self, nodes: Iterable[Node]) -> None:
        fresh = {n.name: n for n in nodes}
        for name in [n for n in self.nodes if n not in fresh]:
            self._remove_node(name)
        for node in fresh.values():
            current = self.nodes.get(node.name)
            if current is None or current.node != node:
                self._upsert_node(node)
        self.nodes_synced = True
        self._changed()

    def _upsert_node(self, node: Node) -> None:
        if node.name in self.nodes:
            self._remove_node(node.name, renamed=False)
        else:
            self._sorted = None
        state = NodeState.of(
            node, self._requested.get(node.name, ZERO), self._pod_count.get(node.name, 0)
        )
        self.nodes[node.name] = state
        for label in node.labels.items():
            self._labels.setdefault(label, set()).add(node.name)
        self._count(state)

    def _remove_node(self, name: str, renamed: bool = True) -> None:
        state = self.nodes.pop(name, None)
        if state is None:
            return
        if renamed:
            self._sorted = None
        self._uncount(state)
        for label in state.node.labels.items():
            members = self._labels.get(label)
            if members is not None:
                members.discard(name)
                if not members:
                    del self._labels[label]

    def _count(self, state: NodeState) -> None:
        if state.plain:
            free = state.free
            self.free_counts[free] += 1
            for label in state.node.labels.items():
                counts = self.label_free.get(label)
                if counts is None:
                    counts = self.label_free[label] = Counter()
                counts[free] += 1
        elif state.node.schedulable:
            self.tainted.add(state.node.name)

    def _uncount(self, state: NodeState) -> None:
        if state.plain:
            free = state.free
            _decrement(self.free_counts, free)
            for label in state.node.labels.items():
                counts = self.label_free[label]
                _decrement(counts, free)
                if not counts:
                    del self.label_free[label]
        else:
            self.tainted.discard(state.node.name)

    def _charge(self, node_name: str, amount: Res, pods: int) -> None:
        self._requested[node_name] = self._requested.get(node_name, ZERO) + amount
        self._pod_count[node_name] += pods
        state = self.nodes.get(node_name)
        if state is None:
            return
        if state.plain:
            self._uncount(state)
        state.requested = state.requested + amount
        state.free = state.free - amount
        state.pods += pods
        if state.plain:
            self._count(state)

    # ----------------------------------------------------------------- pods

    def apply_pod(self, kind: EventType, pod: Pod) -> None:
        old = self.pods.pop(pod.key, None)
        if old is not None:
            self._pod_effects(old, -1)
        if kind is not EventType.DELETED:
            self.pods[pod.key] = pod
            self._pod_effects(pod, 1)
        self._changed()

    def replace_pods(self, pods: Iterable[Pod]) -> None:
        fresh = {p.key: p for p in pods}
        for key in [k for k in self.pods if k not in fresh]:
            self._pod_effects(self.pods.pop(key), -1)
        for pod in fresh.values():
            old = self.pods.get(pod.key)
            if old == pod:
                continue
            if old is not None:
                self._pod_effects(old, -1)
            self.pods[pod.key] = pod
            self._pod_effects(pod, 1)
        self.pods_synced = True
        self._changed()

    def _pod_effects(self, pod: Pod, sign: int) -> None:
        totals = self.totals
        if pod.bound:
            amount = pod.requests.times(sign)
            self._charge(pod.node, amount, sign)
            if pod.workload:
                totals.federated_requested = totals.federated_requested + amount
            else:
                totals.foreign_requested = totals.foreign_requested + amount
        if pod.pending:
            totals.pending += sign
        if pod.terminal:
            return
        if pod.reservation:
            totals.reservation_pods[pod.reservation] += sign
            if totals.reservation_pods[pod.reservation] <= 0:
                del totals.reservation_pods[pod.reservation]
        if pod.workload:
            self._count_workload(pod, sign)

    def _count_workload(self, pod: Pod, sign: int) -> None:
        counts = self.totals.workloads.setdefault(pod.workload, WorkloadPods())
        counts.pods += sign
        counts.ready += sign if pod.ready else 0
        if counts.pods <= 0:
            del self.totals.workloads[pod.workload]


def _decrement(counts: Counter[Res], key: Res) -> None:
    left = counts[key] - 1
    if left > 0:
        counts[key] = left
    else:
        del counts[key]
