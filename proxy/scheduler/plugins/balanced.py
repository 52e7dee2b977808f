"""Score: cpu and memory used in step after one more replica (Kubernetes BalancedAllocation)."""

from __future__ import annotations

from proxy.scheduler.framework import MAX_SCORE, ClusterState, PluginContext, Score, ScorePlugin
from proxy.scheduler.utilisation import free_fractions


class BalancedScore(ScorePlugin):
    name = "balanced"

    def score(self, context: PluginContext, cluster: ClusterState) -> Score:
        if cluster.capacity is None:
            return Score(0.0, "no status published")
        fractions = free_fractions(cluster.capacity, context.shape)
        cpu = 1 - fractions["cpu"]
        memory = 1 - fractions["memory"]
        deviation = abs(cpu - memory) / 2
        reason = f"used after one replica: cpu {cpu:.0%}, memory {memory:.0%}"
        return Score(MAX_SCORE * (1 - deviation), reason).clamped()
