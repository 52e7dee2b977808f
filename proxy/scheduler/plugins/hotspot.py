"""Score: avoid clusters with many hot nodes or a high recent usage peak."""

from __future__ import annotations

from proxy.scheduler.framework import MAX_SCORE, ClusterState, PluginContext, Score, ScorePlugin
from proxy.scheduler.policy import HotspotArgs


class HotspotScore(ScorePlugin):
    name = "hotspot"

    def __init__(self, args: HotspotArgs) -> None:
        self.args = args

    def score(self, context: PluginContext, cluster: ClusterState) -> Score:
        status = cluster.view.status
        if status is None:
            return Score(0.0, "no status published")
        hot = min(max(status.hot_node_ratio, 0.0), 1.0)
        peak = max(
            _ratio(status.usage_peak.cpu_millis, status.allocatable.cpu_millis),
            _ratio(status.usage_peak.memory_bytes, status.allocatable.memory_bytes),
        )
        weight = self.args.peak_weight
        pressure = (1 - weight) * hot + weight * peak
        reason = f"hot nodes {hot:.0%}, usage peak {peak:.0%} of allocatable"
        return Score(MAX_SCORE * (1 - pressure), reason).clamped()


def _ratio(used: int, allocatable: int) -> float:
    if allocatable <= 0:
        return 1.0
    return min(max(used / allocatable, 0.0), 1.0)
