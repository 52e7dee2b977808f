"""An independent, brute-force node-by-node estimate: the reference for the estimator."""

from __future__ import annotations

from collections.abc import Sequence

from worker.model import Node, Pod, Res, Toleration

HARD = ("NoSchedule", "NoExecute")


def _tolerates(tolerations: Sequence[Toleration], key: str, value: str, effect: str) -> bool:
    for tol in tolerations:
        if tol.effect and tol.effect != effect:
            continue
        if tol.operator == "Exists" and (not tol.key or tol.key == key):
            return True
        if tol.operator != "Exists" and tol.key == key and tol.value == value:
            return True
    return False


def _count(free: list[int], per: Res) -> int:
    best = free[3] // (per.pods or 1)
    for have, want in zip(free[:3], (per.cpu, per.memory, per.gpu), strict=True):
        if want:
            best = min(best, have // want)
    return max(0, best)


def brute_force(
    nodes: Sequence[Node],
    pods: Sequence[Pod],
    per: Res,
    selector: dict[str, str],
    tolerations: Sequence[Toleration],
    assumed: Sequence[tuple[Res, int]],
    limit: int = 0,
) -> tuple[int, int]:
    """(max replicas, nodes considered), one node at a time, in name order."""
    free: dict[str, list[int]] = {}
    for node in nodes:
        a = node.allocatable
        free[node.name] = [a.cpu, a.memory, a.gpu, a.pods]
    for pod in pods:
        if pod.node and pod.phase not in ("Succeeded", "Failed") and pod.node in free:
            slot = free[pod.node]
            slot[0] -= pod.requests.cpu
            slot[1] -= pod.requests.memory
            slot[2] -= pod.requests.gpu
            slot[3] -= 1
    ordered = sorted(nodes, key=lambda n: n.name)
    for res_per, replicas in assumed:
        left = replicas
        for node in ordered:
            plain = node.ready and not node.unschedulable
            plain = plain and not any(t.effect in HARD for t in node.taints)
            while left > 0 and plain and _count(free[node.name], res_per) > 0:
                slot = free[node.name]
                slot[0] -= res_per.cpu
                slot[1] -= res_per.memory
                slot[2] -= res_per.gpu
                slot[3] -= res_per.pods or 1
                left -= 1
    total = considered = 0
    for node in ordered:
        if not node.ready or node.unschedulable:
            continue
        if any(node.labels.get(k) != v for k, v in selector.items()):
            continue
        hard = [t for t in node.taints if t.effect in HARD]
        if not all(_tolerates(tolerations, t.key, t.value, t.effect) for t in hard):
            continue
        considered += 1
        total += _count(free[node.name], per)
    return (min(total, limit) if limit else total), considered
