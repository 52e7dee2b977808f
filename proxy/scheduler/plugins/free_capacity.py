"""Score: share of the cluster's limit still free after one more replica (cpu, memory, gpu)."""

from __future__ import annotations

from proxy.scheduler.framework import MAX_SCORE, ClusterState, PluginContext, Score, ScorePlugin
from proxy.scheduler.utilisation import free_fractions


class FreeCapacityScore(ScorePlugin):
    name = "free_capacity"

    def score(self, context: PluginContext, cluster: ClusterState) -> Score:
        if cluster.capacity is None:
            return Score(0.0, "no status published")
        fractions = free_fractions(cluster.capacity, context.shape)
        mean = sum(fractions.values()) / len(fractions)
        detail = ", ".join(f"{name} {value:.0%}" for name, value in fractions.items())
        return Score(MAX_SCORE * mean, f"free after one replica: {detail}").clamped()
