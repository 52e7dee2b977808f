"""Workloads left on removed clusters: a sweep that places their replicas again.

RemoveCluster with force deletes a cluster's records while workloads still hold parts there,
and a leader may die between that commit and the sweep. So at leader start and whenever a
cluster spec is deleted (or the cache resyncs), every workload record is scanned, and each
part on a cluster that has no spec gets one Abandon step through the workload writer: its
reservations released, its replicas placed elsewhere. What fits nowhere stays Failed without
a reservation; only those workloads are tried again every period, so a fleet of many
workloads is not scanned over and over.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from common.keys import Keys
from fed.v1 import types_pb2
from proxy.cache import Change, FedCache
from proxy.migration import Abandon
from proxy.workloads import WorkloadWriter

_log = logging.getLogger(__name__)
WorkloadKey = tuple[str, str]


class AbandonedParts:
    def __init__(
        self, keys: Keys, cache: FedCache, writer: WorkloadWriter, period_s: float
    ) -> None:
        self._keys = keys
        self._cache = cache
        self._writer = writer
        self._period_s = period_s
        self.stranded: set[WorkloadKey] = set()
        """Workloads whose last step left replicas on a removed cluster (nothing fit)."""

    async def run(self) -> None:
        changes = self._cache.subscribe(self._keys.clusters_prefix())
        try:
            await self.sweep(self._writer.workloads)
            while True:
                try:
                    # Not wait_for: on Python 3.11 it swallows a cancel that lands in the tick
                    # its inner task ends (cpython#86296), and a leader stepping down both
                    # cancels this loop and resyncs the cache that ends that task.
                    async with asyncio.timeout(self._period_s):
                        await self.cluster_removed(changes)
                except TimeoutError:
                    await self.sweep(sorted(self.stranded))
                else:
                    await self.sweep(self._writer.workloads)
        finally:
            self._cache.unsubscribe(changes)

    def abandoned(self, workloads: Iterable[WorkloadKey]) -> list[Abandon]:
        """One step per (workload, removed cluster) that these workload records still name."""
        known = self._known()
        steps = []
        for key in workloads:
            workload = self._writer.workloads.get(key)
            if workload is not None:
                steps += [Abandon(*key, cluster) for cluster in _on_removed(workload, known)]
        return steps

    async def sweep(self, workloads: Iterable[WorkloadKey]) -> None:
        steps = self.abandoned(workloads)
        if not steps:
            self.stranded.clear()
            return
        _log.info("re-placing parts on removed clusters", extra={"parts": len(steps)})
        results = await asyncio.gather(
            *(self._writer.submit(step) for step in steps), return_exceptions=True
        )
        for step, result in zip(steps, results, strict=True):
            if isinstance(result, Exception):
                _log.warning(
                    "re-placing a part on a removed cluster failed",
                    extra={"workload": f"{step.namespace}/{step.name}", "err": str(result)},
                )
        known = self._known()
        self.stranded = {
            (step.namespace, step.name)
            for step in steps
            if (w := self._writer.workloads.get((step.namespace, step.name))) is not None
            and _on_removed(w, known)
        }

    def _known(self) -> set[str]:
        clusters = self._cache.view.clusters
        return {name for name, entry in clusters.items() if entry.spec is not None}

    async def cluster_removed(self, changes: asyncio.Queue[Change]) -> None:
        """Returns at the next deleted cluster spec or resync (specs are rewritten often)."""
        while True:
            change = await changes.get()
            if change.resynced or (change.deleted and self._keys.is_cluster_spec(change.key)):
                return


def _on_removed(workload: types_pb2.Workload, known: set[str]) -> list[str]:
    return sorted({part.cluster for part in workload.placement.clusters} - known)
