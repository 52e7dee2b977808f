"""List + watch of one kind (nodes, pods, the federation's Deployments) into a cache.

The watch resumes from the last resourceVersion it saw (events and bookmarks); a 410 Gone
re-lists, and the re-list replaces the cache contents (deletes what vanished, updates the
rest), so nothing is lost or counted twice. Other errors back off (common/retry) and resume.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common.retry import Backoff
from common.settings import RetrySettings
from worker import metrics
from worker.kube_adapter import KubeAdapter, KubeError, KubeGone
from worker.model import EventType, WatchEvent

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sink:
    """Where an informer puts what it lists (replacing what was there) and watches."""

    replace: Callable[[list[Any]], None]
    apply: Callable[[EventType, Any], None]


@dataclass
class InformerState:
    relists: int = 0
    watch_errors: int = 0
    last_error: str = ""
    watching: bool = False
    """Listed, and no list or watch has failed since the watch last delivered: what the
    cache holds is current (a cluster that went down ends its watches, and the next attempt
    fails; a watch resumed after an error is current again at its first event or bookmark)."""


class Informer:
    def __init__(
        self,
        cluster: str,
        kind: str,
        adapter: KubeAdapter,
        sink: Sink,
        retry_policy: RetrySettings,
    ) -> None:
        self.cluster = cluster
        self.kind = kind
        self.state = InformerState()
        self._adapter = adapter
        self._sink = sink
        self._backoff = Backoff(retry_policy)

    async def run(self) -> None:
        """Forever: list, then watch from the list's resourceVersion, recovering from errors."""
        rv = ""
        while True:
            try:
                if not rv:
                    rv = await self._relist()
                rv = await self._watch(rv)
            except KubeGone as exc:
                self.state.watching = False
                _log.info(
                    "watch expired, re-listing",
                    extra={"cluster": self.cluster, "kind": self.kind, "err": str(exc)},
                )
                rv = ""
            except KubeError as exc:
                self._failed(exc)
                await self._backoff.wait()
            except Exception as exc:
                _log.exception("informer error", extra={"cluster": self.cluster})
                self._failed(exc)
                await self._backoff.wait()

    def _failed(self, exc: Exception) -> None:
        self.state.watching = False
        self.state.watch_errors += 1
        self.state.last_error = str(exc)
        metrics.INFORMER_ERRORS.labels(self.cluster, self.kind).inc()
        _log.warning(
            "list/watch failed, backing off",
            extra={"cluster": self.cluster, "kind": self.kind, "err": str(exc)[:300]},
        )

    async def _relist(self) -> str:
        listing = await self._adapter.list(self.kind)
        self._sink.replace(listing.items)
        self.state.watching = True
        self.state.relists += 1
        metrics.INFORMER_RELISTS.labels(self.cluster, self.kind).inc()
        # The cache is long-lived and acyclic: keep it out of the cyclic collector's scans,
        # whose full passes over a 50,000-pod cache would stall estimates for 100 ms.
        gc.freeze()
        self._backoff.reset()
        return listing.resource_version

    async def _watch(self, rv: str) -> str:
        """Follow one watch stream; returns the resourceVersion to resume from."""
        stream = self._adapter.watch(self.kind, rv)
        try:
            async for event in stream:
                self._apply(event)
                rv = event.resource_version or rv
                self._backoff.reset()
                self.state.watching = True  # resumed where it left off: nothing was missed
        finally:
            stream.close()
        return rv

    def _apply(self, event: WatchEvent) -> None:
        obj = event.obj
        if event.type is EventType.BOOKMARK or obj is None:
            return
        metrics.INFORMER_EVENTS.labels(self.cluster, self.kind).inc()
        self._sink.apply(event.type, obj)
