"""Filter and score on cluster taints (Kubernetes semantics).

NoSchedule and NoExecute taints need a matching toleration; PreferNoSchedule taints only
lower the score, relative to the most tainted feasible cluster.
"""

from __future__ import annotations

from collections.abc import Mapping

from fed.v1 import types_pb2
from proxy.scheduler.framework import (
    MAX_SCORE,
    ClusterState,
    FilterPlugin,
    PluginContext,
    Score,
    ScorePlugin,
)
from proxy.scheduler.selection import Toleration
from proxy.scheduler.status import Status

HARD_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
PREFER_EFFECT = "PreferNoSchedule"


def tolerates(toleration: Toleration, taint: types_pb2.Taint) -> bool:
    """Kubernetes' ToleratesTaint: effect, key and value (or Exists) must match."""
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.key and toleration.key != taint.key:
        return False
    if toleration.operator == "Exists":
        return True
    return toleration.value == taint.value


def untolerated(
    tolerations: tuple[Toleration, ...], taints: list[types_pb2.Taint], effects: frozenset[str]
) -> list[types_pb2.Taint]:
    return [
        taint
        for taint in taints
        if taint.effect in effects and not any(tolerates(item, taint) for item in tolerations)
    ]


class TaintTolerationFilter(FilterPlugin):
    name = "taint_toleration"

    def filter(self, context: PluginContext, cluster: ClusterState) -> Status:
        taints = list(cluster.view.spec.taints)
        blocking = untolerated(context.selection.tolerations, taints, HARD_EFFECTS)
        if blocking:
            names = ", ".join(f"{item.key}={item.value}:{item.effect}" for item in blocking)
            return Status.unresolvable(f"untolerated taints {names}")
        return Status.success("taints tolerated")


class TaintTolerationScore(ScorePlugin):
    name = "taint_toleration"

    def score(self, context: PluginContext, cluster: ClusterState) -> Score:
        taints = list(cluster.view.spec.taints)
        count = len(untolerated(context.selection.tolerations, taints, frozenset({PREFER_EFFECT})))
        return Score(float(count), f"{count} untolerated {PREFER_EFFECT} taints")

    def normalize(self, scores: Mapping[str, Score]) -> Mapping[str, Score]:
        """Fewest untolerated PreferNoSchedule taints scores 100, the most 0."""
        worst = max((item.value for item in scores.values()), default=0.0)
        return {
            cluster: Score(
                MAX_SCORE if worst == 0 else MAX_SCORE * (1 - item.value / worst), item.reason
            )
            for cluster, item in scores.items()
        }
