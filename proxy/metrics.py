"""The proxy's Prometheus metrics (served on the process's /metrics endpoint)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

REQUEST_SECONDS = Histogram(
    "fed_proxy_request_seconds",
    "End-to-end latency of API calls on this replica, forwarded ones included",
    ["method", "outcome"],
    buckets=_LATENCY,
)
FORWARDED = Counter(
    "fed_proxy_forwarded_total", "Writes this follower forwarded to the leader", ["method"]
)
CATCHING_UP = Gauge(
    "fed_proxy_catching_up",
    "Forwarded writes the leader answered that wait for this replica's cache to reach them",
)
FORWARD_BATCH_SIZE = Histogram(
    "fed_proxy_forward_batch_size",
    "Writes this follower forwarded to the leader in one ForwardWrites call",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
BATCH_SIZE = Histogram(
    "fed_scheduler_batch_size",
    "Writes handled in one batching round",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
CLASSES_PER_BATCH = Histogram(
    "fed_scheduler_classes_per_batch",
    "Equivalence classes filtered and scored in one batch",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
PLUGIN_SECONDS = Histogram(
    "fed_scheduler_plugin_seconds",
    "Time in one plugin for one cluster (sampled: a plugin's first call and one in ten)",
    ["plugin", "kind"],
    buckets=(0.00001, 0.00003, 0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03),
)
RESERVATIONS = Gauge("fed_reservations", "Active reservations in the leader's ledger")
COMPACTED_REVISION = Gauge(
    "fed_etcd_compacted_revision", "The revision the leader last compacted etcd's history to"
)
DRIFT_CHECKS = Counter(
    "fed_drift_checks_total", "Settled workloads whose clusters the leader asked about drift"
)
DRIFTED_PARTS = Counter(
    "fed_drifted_parts_total",
    "Parts of settled workloads found changed in their cluster (gone, rescaled, not ready)",
)
CACHE_NARROWED = Gauge(
    "fed_cache_narrowed",
    "1 while this replica's cache watches all but the writer's records (it leads), else 0",
)

_REQUEST_CHILDREN: dict[tuple[str, str], Histogram] = {}


def request_seconds(method: str, outcome: str) -> Histogram:
    """REQUEST_SECONDS for one method and outcome, looked up once: `labels` costs more than
    the observation itself, and every API call records one."""
    child = _REQUEST_CHILDREN.get((method, outcome))
    if child is None:
        child = _REQUEST_CHILDREN[(method, outcome)] = REQUEST_SECONDS.labels(method, outcome)
    return child
