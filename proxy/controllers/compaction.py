"""The leader compacts etcd's history, as kube-apiserver compacts the etcd it uses.

etcd keeps every revision until something compacts it, and workers publish each cluster's
status every few seconds: an etcd that nothing compacts grows until its space quota refuses
every write. The embedded etcd compacts itself (etcd.compaction_retention); an external one
keeps everything unless its operator turned --auto-compaction on. So every interval the
leader compacts to the revision its view had reached one interval before: at least one
interval of history stays, for a watch to resume from after a short disconnect (one that
finds its revision compacted re-lists; ARCHITECTURE.md, invariant 5).
"""

from __future__ import annotations

import asyncio
import logging

import grpc

from common.etcd_store import EtcdStore, EtcdUnavailable
from proxy import metrics
from proxy.cache import FedCache

_log = logging.getLogger(__name__)


class HistoryCompaction:
    def __init__(self, store: EtcdStore, cache: FedCache, interval_s: float) -> None:
        self._store = store
        self._cache = cache
        self._interval_s = interval_s

    async def run(self) -> None:
        seen = self._cache.revision
        while True:
            await asyncio.sleep(self._interval_s)
            seen = await self.step(seen)

    async def step(self, seen: int) -> int:
        """Compact to `seen` (a revision the view reached an interval ago); the revision to
        compact to next time. A failure is logged and tried again next interval."""
        if seen > 0:
            try:
                if await self._store.compact(seen):
                    _log.info("etcd history compacted", extra={"revision": seen})
                    metrics.COMPACTED_REVISION.set(seen)
            except (EtcdUnavailable, grpc.aio.AioRpcError) as exc:
                _log.warning("etcd compaction failed", extra={"revision": seen, "err": str(exc)})
        return self._cache.revision
