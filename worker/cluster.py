"""Everything a worker runs for one assigned cluster: adapter, informers, usage, status, applier."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from common.cancellation import cancel_and_wait
from common.etcd_store import EtcdStore
from common.keys import Keys
from fed.v1 import types_pb2
from worker.apistats import ApiStats
from worker.applier import Applier
from worker.cache import ClusterCache
from worker.deployment_cache import DeploymentCache
from worker.informer import Informer, Sink
from worker.kube_adapter import AdapterOptions, KubeAdapter
from worker.model import Deployment
from worker.settings import WorkerSettings
from worker.status import StatusPublisher
from worker.usage import UsageTracker

_log = logging.getLogger(__name__)


@dataclass
class WorkerContext:
    """What every cluster runtime of one worker shares."""

    worker_id: str
    settings: WorkerSettings
    store: EtcdStore
    keys: Keys
    pool: ThreadPoolExecutor
    watch_pool: ThreadPoolExecutor

    def adapter_options(self) -> AdapterOptions:
        section = self.settings.worker
        return AdapterOptions(
            threads=section.kube_threads,
            page_size=section.list_page_size,
            watch_timeout_s=section.watch_timeout_s,
            default_timeout_s=section.kube_timeout_s,
        )


async def _cancel(task: asyncio.Task[Any] | None) -> None:
    if task is not None:
        await cancel_and_wait(task)


class ClusterRuntime:
    """Built from the cluster's spec; `start` begins syncing, `stop` ends every task."""

    def __init__(self, name: str, spec: types_pb2.ClusterSpec, ctx: WorkerContext) -> None:
        section = ctx.settings.worker
        self.name = name
        self.spec = spec
        self.stats = ApiStats(section.api_window_s)
        self.adapter = KubeAdapter(
            spec.kubeconfig, self.stats, ctx.adapter_options(), ctx.pool, ctx.watch_pool
        )
        self.cache = ClusterCache(self._changed)
        self.deployments = DeploymentCache()

        def informer(kind: str, sink: Sink) -> Informer:
            return Informer(name, kind, self.adapter, sink, ctx.settings.retry)

        self._deployments_informer = informer(
            "deployments", Sink(self.deployments.replace, self.deployments.apply)
        )
        self.informers = [
            informer("nodes", Sink(self.cache.replace_nodes, self.cache.apply_node)),
            informer("pods", Sink(self.cache.replace_pods, self.cache.apply_pod)),
            self._deployments_informer,
        ]
        self.usage = UsageTracker(self.adapter, section.usage_period_s, section.usage_window_s)
        self.applier = Applier(
            name,
            self.adapter,
            ctx.settings.retry,
            lambda label: label in self.cache.totals.workloads,
            section.crash_after_create,
            known=self._known_deployment,
        )
        self.publisher = StatusPublisher(
            name,
            ctx.worker_id,
            ctx.keys.cluster_status(name),
            ctx.store,
            self.cache,
            lambda: self.usage.view,
            self.stats,
            section,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._publishing: asyncio.Task[None] | None = None

    def _known_deployment(self, namespace: str, name: str) -> Deployment | None:
        """The Deployment as the informer holds it while its watch runs and the API server
        answers; None otherwise, and the applier asks the API server, so that a cluster that
        went down is not reported as running what it ran."""
        if not (self._deployments_informer.state.watching and self.stats.reachable):
            return None
        return self.deployments.get(namespace, name)

    def _changed(self) -> None:
        self.publisher.changed.set()

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=f"{self.name}-{what}")
        self._tasks.append(task)
        return task

    def start(self) -> None:
        for informer in self.informers:
            self._spawn(informer.run(), f"informer-{informer.kind}")
        self._spawn(self.usage.run(), "usage")

    def set_publishing(self, on: bool) -> None:
        """Publish the status of this cluster (only the worker the assignment names does)."""
        if on and self._publishing is None:
            self._publishing = asyncio.create_task(self.publisher.run(), name=f"{self.name}-status")
        elif not on and self._publishing is not None:
            task, self._publishing = self._publishing, None
            task.cancel()

    @property
    def publishing(self) -> bool:
        return self._publishing is not None

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        publishing, self._publishing = self._publishing, None
        for task in [*tasks, publishing]:
            await _cancel(task)
        self.adapter.close()
        _log.info("cluster runtime stopped", extra={"cluster": self.name})
