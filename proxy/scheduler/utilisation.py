"""Per-dimension free shares of a cluster's limit, shared by the capacity-based scores."""

from __future__ import annotations

from proxy.scheduler.capacity import ClusterCapacity
from proxy.scheduler.resources import Quantity


def free_fractions(capacity: ClusterCapacity, shape: Quantity) -> dict[str, float]:
    """Free share of the limit after one more replica: cpu, memory, and gpu when the shape
    uses it; 0 where the limit is 0 or exhausted."""
    after = capacity.headroom - shape
    fractions = {
        "cpu": _share(after.cpu_millis, capacity.limit.cpu_millis),
        "memory": _share(after.memory_bytes, capacity.limit.memory_bytes),
    }
    if shape.gpu > 0:
        fractions["gpu"] = _share(after.gpu, capacity.limit.gpu)
    return fractions


def _share(free: int, limit: int) -> float:
    if limit <= 0:
        return 0.0
    return min(max(free / limit, 0.0), 1.0)
