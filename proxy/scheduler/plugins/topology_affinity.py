"""Filter: the policy's allowed regions and zones."""

from __future__ import annotations

from proxy.scheduler.framework import ClusterState, FilterPlugin, PluginContext
from proxy.scheduler.status import Status


class TopologyAffinityFilter(FilterPlugin):
    name = "topology_affinity"

    def filter(self, context: PluginContext, cluster: ClusterState) -> Status:
        selection = context.selection
        view = cluster.view
        if selection.regions and view.region not in selection.regions:
            allowed = ", ".join(sorted(selection.regions))
            return Status.unresolvable(f"region {view.region or '<none>'} not in {allowed}")
        if selection.zones and view.zone not in selection.zones:
            allowed = ", ".join(sorted(selection.zones))
            return Status.unresolvable(f"zone {view.zone or '<none>'} not in {allowed}")
        return Status.success("region and zone allowed")
