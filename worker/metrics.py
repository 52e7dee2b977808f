"""Prometheus metrics of the worker (served by common.metrics.start_metrics_server)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RPC_SECONDS = Histogram(
    "fed_worker_rpc_seconds",
    "Latency of the worker's gRPC methods (an item of a Batch counts under its own method)",
    ["method", "code"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
INFORMER_EVENTS = Counter(
    "fed_worker_informer_events_total", "Watch events applied to the cache", ["cluster", "kind"]
)
INFORMER_RELISTS = Counter(
    "fed_worker_informer_relists_total", "Full lists (start, 410 Gone)", ["cluster", "kind"]
)
INFORMER_ERRORS = Counter(
    "fed_worker_informer_errors_total", "Failed lists or watches", ["cluster", "kind"]
)
STATUS_PUBLISHES = Counter(
    "fed_worker_status_publishes_total", "Cluster status records written", ["cluster"]
)
APPLIES = Counter(
    "fed_worker_applies_total", "Apply and Remove outcomes", ["cluster", "op", "outcome"]
)
STATUS_READS = Counter(
    "fed_worker_status_reads_total",
    "Workload status checks, by where the Deployment was read: the informer cache or the API",
    ["cluster", "source"],
)
CLUSTERS_SERVED = Gauge("fed_worker_clusters_served", "Clusters assigned to this worker")
