"""Filter: only ACTIVE clusters whose health is READY take new replicas."""

from __future__ import annotations

from fed.v1 import types_pb2
from proxy.scheduler.framework import ClusterState, FilterPlugin, PluginContext
from proxy.scheduler.status import Status


class ClusterStateFilter(FilterPlugin):
    name = "cluster_state"

    def filter(self, context: PluginContext, cluster: ClusterState) -> Status:
        spec = cluster.view.spec
        if spec.state != types_pb2.ADMIN_STATE_ACTIVE:
            state = types_pb2.AdminState.Name(spec.state).removeprefix("ADMIN_STATE_").lower()
            detail = f" ({spec.state_reason})" if spec.state_reason else ""
            return Status.unresolvable(f"cluster is {state}{detail}")
        if cluster.view.health != types_pb2.CLUSTER_HEALTH_READY:
            health = types_pb2.ClusterHealth.Name(cluster.view.health)
            return Status.unschedulable(
                f"cluster health is {health.removeprefix('CLUSTER_HEALTH_').lower()}"
            )
        return Status.success("active and ready")
