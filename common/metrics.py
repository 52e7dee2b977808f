"""Prometheus metrics: the per-process /metrics endpoint and the metrics of common/."""

from __future__ import annotations

from dataclasses import dataclass
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import Counter, Gauge, Histogram, start_http_server

ETCD_TXN_SECONDS = Histogram(
    "fed_etcd_txn_seconds",
    "Latency of etcd transactions issued by this process",
    ["kind"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
ETCD_FENCE_REJECTIONS = Counter(
    "fed_etcd_fence_rejections_total", "Fenced transactions rejected because the epoch moved"
)
ETCD_WATCH_RESYNCS = Counter(
    "fed_etcd_watch_resyncs_total", "Watches that re-listed after a compaction or a gap", ["prefix"]
)
LEADER = Gauge("fed_leader", "1 while this process is the elected leader, else 0")
LEADER_EPOCH = Gauge("fed_leader_epoch", "Epoch (create revision) of this process's leadership")
EVENT_LOOP_LAG = Histogram(
    "fed_event_loop_lag_seconds",
    "How late the event loop ran a callback that was due (sampled every 10 ms), by likely "
    "cause: waiting (its thread runnable without a CPU) or busy (a long callback, a "
    "collection, a blocking call)",
    ["cause"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1),
)
LEASE_ACK_AGE = Gauge(
    "fed_leader_lease_ack_age_seconds",
    "Seconds since the leader's lease keepalive was last acknowledged (steps down near TTL)",
)


@dataclass
class MetricsServer:
    host: str
    port: int
    _server: WSGIServer
    _thread: Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(host: str = "127.0.0.1", port: int = 0) -> MetricsServer:
    """Serve /metrics on host:port (0 picks a free port) from a daemon thread."""
    server, thread = start_http_server(port, addr=host)
    return MetricsServer(host, server.server_port, server, thread)
