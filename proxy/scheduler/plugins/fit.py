"""Filter: at least one replica of the shape fits, by aggregate headroom and by node grades."""

from __future__ import annotations

from proxy.scheduler.framework import ClusterState, FilterPlugin, PluginContext
from proxy.scheduler.resources import DIMENSIONS
from proxy.scheduler.status import Status


class FitFilter(FilterPlugin):
    name = "fit"
    dynamic = True

    def filter(self, context: PluginContext, cluster: ClusterState) -> Status:
        capacity = cluster.capacity
        if capacity is None:
            return Status.unschedulable("no status published: capacity unknown")
        shape = context.shape
        fits = capacity.max_replicas(shape)
        if fits > 0:
            return Status.success(f"{fits} replicas fit")
        if capacity.aggregate_fit(shape) == 0:
            short = [
                f"{name} {free} free of {need} per replica"
                for name, free, need in zip(
                    DIMENSIONS, capacity.headroom.values(), shape.values(), strict=True
                )
                if need > free
            ]
            return Status.unschedulable(f"aggregate headroom exhausted: {', '.join(short)}")
        return Status.unschedulable(f"no node has room for one replica ({shape.describe()})")
