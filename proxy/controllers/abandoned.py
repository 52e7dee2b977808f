"""Workloads left on removed clusters: a level-triggered sweep that places their replicas again.

RemoveCluster with force deletes a cluster's records while workloads still hold parts there,
and a leader may die between that commit and the sweep. So at leader start, whenever a
cluster spec changes and every period, each workload with a part on a cluster that has no
spec gets one Abandon step through the workload writer (released, re-placed; what fits
nowhere stays Failed without a reservation and is tried again next period).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from common.keys import Keys
from proxy.cache import Change, FedCache
from proxy.migration import Abandon
from proxy.workloads import WorkloadWriter

_log = logging.getLogger(__name__)


class AbandonedParts:
    def __init__(
        self, keys: Keys, cache: FedCache, writer: WorkloadWriter, period_s: float
    ) -> None:
        self._keys = keys
        self._cache = cache
        self._writer = writer
        self._period_s = period_s

    async def run(self) -> None:
        changes = self._cache.subscribe(self._keys.clusters_prefix())
        try:
            while True:
                await self.sweep()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._spec_changed(changes), self._period_s)
        finally:
            self._cache.unsubscribe(changes)

    def abandoned(self) -> list[Abandon]:
        """One step per (workload, removed cluster) that a workload record still names."""
        clusters = self._cache.view.clusters
        known = {name for name, entry in clusters.items() if entry.spec is not None}
        return [
            Abandon(namespace, name, part.cluster)
            for (namespace, name), workload in self._writer.workloads.items()
            for part in workload.placement.clusters
            if part.cluster not in known
        ]

    async def sweep(self) -> None:
        steps = self.abandoned()
        if not steps:
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

    async def _spec_changed(self, changes: asyncio.Queue[Change]) -> None:
        while True:
            change = await changes.get()
            if change.resynced or self._keys.is_cluster_spec(change.key):
                return
