"""Score: the policy's preferred regions and preferred labels."""

from __future__ import annotations

from proxy.scheduler.framework import MAX_SCORE, ClusterState, PluginContext, Score, ScorePlugin


class LocalityScore(ScorePlugin):
    name = "locality"

    def score(self, context: PluginContext, cluster: ClusterState) -> Score:
        selection = context.selection
        parts: list[float] = []
        reasons: list[str] = []
        if selection.preferred_regions:
            preferred = cluster.view.region in selection.preferred_regions
            parts.append(1.0 if preferred else 0.0)
            reasons.append(
                f"region {cluster.view.region or '<none>'}"
                + ("" if preferred else " not")
                + " preferred"
            )
        if selection.preferred_labels:
            labels = cluster.view.labels
            matched = sum(labels.get(key) == value for key, value in selection.preferred_labels)
            parts.append(matched / len(selection.preferred_labels))
            reasons.append(f"{matched}/{len(selection.preferred_labels)} preferred labels")
        if not parts:
            return Score(0.0, "no locality preference")
        return Score(MAX_SCORE * sum(parts) / len(parts), ", ".join(reasons))
