"""A cluster's health as the scheduler sees it.

The health controller's record wins where there is one; without it, a cluster is Ready
while its worker publishes fresh status of a reachable API server.
"""

from __future__ import annotations

import time

from fed.v1 import types_pb2
from proxy.view import ClusterEntry

Health = types_pb2.ClusterHealth


def derive_health(
    entry: ClusterEntry, stale_after_s: float, now: float | None = None
) -> types_pb2.ClusterHealth.ValueType:
    if entry.health is not None and entry.health.health != Health.CLUSTER_HEALTH_UNSPECIFIED:
        return entry.health.health
    status = entry.status
    if status is None or not status.HasField("heartbeat"):
        return Health.CLUSTER_HEALTH_UNKNOWN
    age = (time.time() if now is None else now) - status.heartbeat.ToMicroseconds() / 1e6
    if age > stale_after_s or not status.reachable:
        return Health.CLUSTER_HEALTH_SUSPECT
    return Health.CLUSTER_HEALTH_READY
