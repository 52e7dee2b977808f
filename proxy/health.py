"""A cluster's health as the scheduler sees it.

The health controller's record wins where there is one; without it, a cluster is Ready
while its worker publishes fresh status of a reachable API server.
"""

from __future__ import annotations

import time

from fed.v1 import types_pb2
from proxy.view import ClusterEntry

# Enum values are read from the module (types_pb2.CLUSTER_HEALTH_READY), not through the
# enum's wrapper (types_pb2.ClusterHealth.CLUSTER_HEALTH_READY): 40 ns against 1.7 us, and a
# fleet snapshot derives every cluster's health.


def derive_health(
    entry: ClusterEntry, stale_after_s: float, now: float | None = None
) -> types_pb2.ClusterHealth.ValueType:
    record = entry.health
    if record is not None and record.health != types_pb2.CLUSTER_HEALTH_UNSPECIFIED:
        return record.health
    status = entry.status
    if status is None or not status.HasField("heartbeat"):
        return types_pb2.CLUSTER_HEALTH_UNKNOWN
    age = (time.time() if now is None else now) - status.heartbeat.ToMicroseconds() / 1e6
    if age > stale_after_s or not status.reachable:
        return types_pb2.CLUSTER_HEALTH_SUSPECT
    return types_pb2.CLUSTER_HEALTH_READY
