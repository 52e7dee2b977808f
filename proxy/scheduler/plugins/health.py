"""Score: API latency, API error rate and the share of ready nodes."""

from __future__ import annotations

from proxy.scheduler.framework import MAX_SCORE, ClusterState, PluginContext, Score, ScorePlugin
from proxy.scheduler.policy import HealthArgs


class HealthScore(ScorePlugin):
    name = "health"

    def __init__(self, args: HealthArgs) -> None:
        self.args = args

    def score(self, context: PluginContext, cluster: ClusterState) -> Score:
        status = cluster.view.status
        if status is None:
            return Score(0.0, "no status published")
        args = self.args
        latency = _falling(status.api_latency_p99_ms, args.good_latency_ms, args.bad_latency_ms)
        errors = _falling(status.api_error_rate, 0.0, args.bad_error_rate)
        ready = status.nodes_ready / status.nodes_total if status.nodes_total > 0 else 0.0
        reason = (
            f"p99 {status.api_latency_p99_ms:.0f}ms, errors {status.api_error_rate:.1%}, "
            f"{status.nodes_ready}/{status.nodes_total} nodes ready"
        )
        return Score(MAX_SCORE * (latency + errors + ready) / 3, reason).clamped()


def _falling(value: float, good: float, bad: float) -> float:
    """1 at or below good, 0 at or above bad, linear between."""
    if value <= good:
        return 1.0
    if value >= bad:
        return 0.0
    return (bad - value) / (bad - good)
