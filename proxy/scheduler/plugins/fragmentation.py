"""Score: prefer clusters whose free capacity stays usable after one more replica.

Combines the status's fragmentation_index with the share of free cpu left on nodes that can
no longer host a replica of this shape once it is placed (first-fit on the node grades).
"""

from __future__ import annotations

from proxy.scheduler.capacity import Bucket, first_fit
from proxy.scheduler.framework import MAX_SCORE, ClusterState, PluginContext, Score, ScorePlugin
from proxy.scheduler.resources import Quantity


def stranded_share(buckets: tuple[Bucket, ...], shape: Quantity) -> float:
    """Share of free cpu on nodes where not one more replica of the shape fits."""
    total = sum(max(bucket.free.cpu_millis, 0) * bucket.count for bucket in buckets)
    if total <= 0:
        return 0.0
    stranded = sum(
        max(bucket.free.cpu_millis, 0) * bucket.count
        for bucket in buckets
        if bucket.free.copies(shape) == 0
    )
    return stranded / total


class FragmentationScore(ScorePlugin):
    name = "fragmentation"

    def score(self, context: PluginContext, cluster: ClusterState) -> Score:
        status = cluster.view.status
        capacity = cluster.capacity
        if status is None or capacity is None:
            return Score(0.0, "no status published")
        index = min(max(status.fragmentation_index, 0.0), 1.0)
        if capacity.buckets is None:
            return Score(MAX_SCORE * (1 - index), f"fragmentation index {index:.2f}").clamped()
        after, _ = first_fit(capacity.buckets, context.shape, 1)
        stranded = stranded_share(after, context.shape)
        reason = f"fragmentation index {index:.2f}, {stranded:.0%} of free cpu stranded"
        return Score(MAX_SCORE * (1 - (index + stranded) / 2), reason).clamped()
