"""Rescheduling: move replicas off hot clusters toward cool ones, create before delete.

A Ready cluster is hot when its share of hot nodes or its cpu usage peak is over the
watermarks. A round moves a few of the hottest cluster's workloads (graceful: the new
replicas are Ready before the old ones go, so no workload loses a ready replica), but only
when some other Ready cluster is well below the watermarks, and never a workload that
moved within the cooldown: nothing ping-pongs.
"""

from __future__ import annotations

import asyncio
import logging
import time

from fed.v1 import types_pb2
from proxy.cache import FedCache
from proxy.controllers.failover import FailoverController
from proxy.migration import held_on, in_flight
from proxy.settings import RebalanceSection
from proxy.view import ClusterEntry
from proxy.workloads import WorkloadWriter

_log = logging.getLogger(__name__)


def heat(entry: ClusterEntry, settings: RebalanceSection) -> float:
    """How hot a cluster is against the watermarks: above 1 is hot."""
    status = entry.status
    if status is None:
        return 0.0
    by_nodes = status.hot_node_ratio / settings.hot_node_ratio
    allocatable = status.allocatable.cpu_millis
    by_usage = (
        status.usage_peak.cpu_millis / allocatable / settings.usage_watermark
        if allocatable
        else 0.0
    )
    return max(by_nodes, by_usage)


def ready(entry: ClusterEntry) -> bool:
    return entry.health is not None and entry.health.health == types_pb2.CLUSTER_HEALTH_READY


class Rescheduler:
    def __init__(
        self,
        cache: FedCache,
        writer: WorkloadWriter,
        failover: FailoverController,
        settings: RebalanceSection,
    ) -> None:
        self._cache = cache
        self._writer = writer
        self._failover = failover
        self._settings = settings
        self._moved_at: dict[tuple[str, str], float] = {}

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._settings.period_s)
            if self._settings.auto:
                await self.round()

    def hot(self) -> list[str]:
        """Ready clusters over the watermarks, hottest first."""
        clusters = self._cache.view.clusters
        heats = {name: heat(e, self._settings) for name, e in clusters.items() if ready(e)}
        return sorted((n for n, h in heats.items() if h > 1.0), key=lambda n: -heats[n])

    def _cool(self) -> list[str]:
        limit = 1.0 - self._settings.cool_margin
        return [
            name for name, entry in self._cache.view.clusters.items()
            if ready(entry) and heat(entry, self._settings) < limit
        ]  # fmt: skip

    async def round(self, sources: list[str] | None = None) -> types_pb2.Operation | None:
        """Start one rebalancing operation off the hottest (or the given) cluster."""
        hot = sources or self.hot()
        if not hot or not self._cool():
            return None
        source = hot[0]
        chosen = self._candidates(source)
        if not chosen:
            return None
        now = time.monotonic()
        for workload in chosen:
            self._moved_at[workload.spec.namespace, workload.spec.name] = now
        _log.info("rebalancing", extra={"cluster": source, "workloads": len(chosen)})
        return await self._failover.rebalance([source], chosen)

    def _candidates(self, source: str) -> list[types_pb2.Workload]:
        now = time.monotonic()
        sources = frozenset([source])
        found = [
            w for w in self._writer.workloads.values()
            if held_on(w, sources) > 0 and not in_flight(w)
            and now - self._moved_at.get((w.spec.namespace, w.spec.name), -1e12)
            > self._settings.cooldown_s
        ]  # fmt: skip
        found.sort(key=lambda w: (-held_on(w, sources), w.spec.namespace, w.spec.name))
        return found[: self._settings.max_workloads]
