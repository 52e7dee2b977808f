"""Status factors of one cluster from its cache and usage, and their publication to etcd."""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp

from common.etcd_store import EtcdStore, EtcdUnavailable
from fed.v1 import types_pb2
from worker import convert, metrics
from worker.apistats import ApiFigures, ApiStats
from worker.cache import ClusterCache
from worker.estimator import fitter
from worker.model import ZERO, Res
from worker.settings import WorkerSection
from worker.usage import UsageView

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Grades:
    cpu: list[int]
    memory: list[int]
    gpu: list[int]
    pods: list[int]

    @classmethod
    def of(cls, section: WorkerSection) -> Grades:
        return cls(
            section.cpu_grades, section.memory_grades, section.gpu_grades, section.pod_grades
        )

    @staticmethod
    def _floor(grades: list[int], value: int) -> int:
        return grades[max(0, bisect.bisect_right(grades, value) - 1)]

    def grade(self, free: Res) -> Res:
        return Res(
            self._floor(self.cpu, free.cpu),
            self._floor(self.memory, free.memory),
            self._floor(self.gpu, free.gpu),
            self._floor(self.pods, free.pods),
        )


def node_grades(cache: ClusterCache, grades: Grades) -> list[types_pb2.NodeGrade]:
    """Plain nodes counted per free-capacity grade (lower bounds), largest grades first."""
    counts: Counter[Res] = Counter()
    for free, count in cache.free_counts.items():
        counts[grades.grade(free)] += count
    return [
        types_pb2.NodeGrade(
            free_cpu_millis=g.cpu,
            free_memory_bytes=g.memory,
            free_gpu=g.gpu,
            free_pods=g.pods,
            count=n,
        )
        for g, n in sorted(counts.items(), key=lambda kv: (kv[0].cpu, kv[0].memory), reverse=True)
    ]


def fragmentation(cache: ClusterCache, reference: Res) -> float:
    """Share of the plain nodes' free cpu and memory that the reference shape cannot use."""
    fit = fitter(reference)
    free_cpu = free_memory = usable_cpu = usable_memory = 0
    for free, count in cache.free_counts.items():
        replicas = fit(free)
        free_cpu += max(0, free.cpu) * count
        free_memory += max(0, free.memory) * count
        usable_cpu += replicas * reference.cpu * count
        usable_memory += replicas * reference.memory * count
    shares = [
        1 - used / total
        for used, total in ((usable_cpu, free_cpu), (usable_memory, free_memory))
        if total > 0
    ]
    return sum(shares) / len(shares) if shares else 0.0


def hot_nodes(cache: ClusterCache, usage: UsageView, watermark: float) -> int:
    hot = 0
    for name, used in usage.nodes.items():
        state = cache.nodes.get(name)
        if state is None or not state.node.ready:
            continue
        alloc = state.node.allocatable
        if (alloc.cpu and used.cpu > watermark * alloc.cpu) or (
            alloc.memory and used.memory > watermark * alloc.memory
        ):
            hot += 1
    return hot


def _node_counts(cache: ClusterCache) -> tuple[int, int, Res]:
    ready = 0
    allocatable = ZERO
    for state in cache.nodes.values():
        if state.node.ready:
            ready += 1
        if state.node.schedulable:
            allocatable = allocatable + state.node.allocatable
    return len(cache.nodes), ready, allocatable


def _timestamp() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp


def build_status(
    cluster: str,
    worker_id: str,
    cache: ClusterCache,
    usage: UsageView,
    api: ApiFigures,
    section: WorkerSection,
) -> types_pb2.ClusterStatus:
    total, ready, allocatable = _node_counts(cache)
    hot = hot_nodes(cache, usage, section.hot_watermark)
    reference = Res(section.reference_cpu_millis, section.reference_memory_bytes)
    totals = cache.totals
    return types_pb2.ClusterStatus(
        cluster=cluster,
        worker_id=worker_id,
        heartbeat=_timestamp(),
        cache_generation=cache.generation,
        reachable=api.reachable and cache.synced,
        last_error=api.last_error,
        allocatable=convert.resources(allocatable),
        foreign_requested=convert.resources(totals.foreign_requested),
        federated_requested=convert.resources(totals.federated_requested),
        usage=convert.resources(usage.total),
        usage_peak=convert.resources(usage.peak),
        nodes_total=total,
        nodes_ready=ready,
        hot_nodes=hot,
        hot_node_ratio=hot / ready if ready else 0.0,
        fragmentation_index=fragmentation(cache, reference),
        pending_pods=totals.pending,
        api_latency_p99_ms=api.latency_p99_ms,
        api_error_rate=api.error_rate,
        node_grades=node_grades(cache, Grades.of(section)),
        reservation_pods=dict(totals.reservation_pods),
    )


def material(status: types_pb2.ClusterStatus) -> bytes:
    """The part of a status whose change is worth publishing at once."""
    digest = types_pb2.ClusterStatus()
    digest.CopyFrom(status)
    for name in (
        "heartbeat",
        "cache_generation",
        "usage",
        "usage_peak",
        "api_latency_p99_ms",
        "api_error_rate",
        "fragmentation_index",
        "last_error",
    ):
        digest.ClearField(name)
    return digest.SerializeToString(deterministic=True)


class StatusPublisher:
    """Writes /fed/clusters/<name>/status on a period and soon after a material change."""

    def __init__(
        self,
        cluster: str,
        worker_id: str,
        key: str,
        store: EtcdStore,
        cache: ClusterCache,
        usage: Callable[[], UsageView],
        api: ApiStats,
        section: WorkerSection,
    ) -> None:
        self.cluster = cluster
        self.worker_id = worker_id
        self.key = key
        self.changed = asyncio.Event()
        self._usage = usage
        self._store = store
        self._cache = cache
        self._api = api
        self._section = section
        self._last_material = b""
        self._last_publish = 0.0

    def build(self) -> types_pb2.ClusterStatus:
        return build_status(
            self.cluster,
            self.worker_id,
            self._cache,
            self._usage(),
            self._api.figures(),
            self._section,
        )

    async def run(self) -> None:
        period = self._section.status_period_s
        while True:
            await self.publish_if_due()
            wait = max(0.0, self._last_publish + period - time.monotonic())
            try:
                async with asyncio.timeout(wait):
                    await self.changed.wait()
            except TimeoutError:
                continue
            self.changed.clear()
            await asyncio.sleep(self._section.status_min_interval_s)

    async def publish_if_due(self) -> bool:
        status = self.build()
        digest = material(status)
        due = time.monotonic() - self._last_publish >= self._section.status_period_s
        if digest == self._last_material and not due:
            return False
        try:
            await self._store.put(self.key, status.SerializeToString())
        except EtcdUnavailable as exc:
            _log.warning("status not published", extra={"cluster": self.cluster, "err": str(exc)})
            return False
        self._last_material = digest
        self._last_publish = time.monotonic()
        metrics.STATUS_PUBLISHES.labels(self.cluster).inc()
        return True
