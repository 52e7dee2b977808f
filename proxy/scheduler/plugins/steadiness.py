"""Score: prefer clusters the workload already runs on (fewer moves on scale and reschedule)."""

from __future__ import annotations

from proxy.scheduler.framework import MAX_SCORE, ClusterState, PluginContext, Score, ScorePlugin


class SteadinessScore(ScorePlugin):
    name = "steadiness"
    per_request = True

    def score(self, context: PluginContext, cluster: ClusterState) -> Score:
        held = context.held.get(cluster.name, 0)
        if held > 0:
            return Score(MAX_SCORE, f"already runs {held} replicas here")
        return Score(0.0, "not used by the workload yet")
