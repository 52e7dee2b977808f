"""What only the leader runs: the workload writer, the binder, cluster admin writes and the
assignment of clusters to workers. Built when leadership is won, torn down when it is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from common.cancellation import cancel_and_wait
from common.election import Leadership
from common.etcd_store import Delete, EtcdStore, Op, Put
from common.keys import Keys
from fed.v1 import federation_pb2, types_pb2
from proxy import assignment, fleet
from proxy.binder import Binder
from proxy.cache import Change, FedCache
from proxy.clusters import ClusterAdmin
from proxy.controllers.abandoned import AbandonedParts
from proxy.controllers.compaction import HistoryCompaction
from proxy.controllers.drift import DriftCheck
from proxy.controllers.failover import FailoverController
from proxy.controllers.health import HealthController
from proxy.controllers.rescheduler import Rescheduler
from proxy.requests import RequestLog
from proxy.routing import WorkerRouter
from proxy.scheduler.engine import Engine
from proxy.settings import FailoverSection, ProxySection, RebalanceSection
from proxy.workloads import Records, WorkloadWriter

_log = logging.getLogger(__name__)
_CATCH_UP_TIMEOUT_S = 10.0


class LeaderDuties:
    def __init__(
        self,
        leadership: Leadership,
        store: EtcdStore,
        keys: Keys,
        cache: FedCache,
        engine: Engine,
        router: WorkerRouter,
        settings: ProxySection,
        failover_settings: FailoverSection,
        rebalance_settings: RebalanceSection,
        cluster_info: Callable[[str], federation_pb2.ClusterInfo],
    ) -> None:
        self.leadership = leadership
        self._store = store
        self._keys = keys
        self._cache = cache
        self._engine = engine
        self._router = router
        self._settings = settings
        self._failover_settings = failover_settings
        self._rebalance_settings = rebalance_settings
        self._cluster_info = cluster_info
        self._tasks: list[asyncio.Task[None]] = []
        self.writer: WorkloadWriter | None = None
        self.binder: Binder | None = None
        self.clusters: ClusterAdmin | None = None
        self.failover: FailoverController | None = None
        self.rescheduler: Rescheduler | None = None

    async def start(self) -> None:
        """Catch the cache up with etcd, then take over from whatever the last leader left."""
        requests = RequestLog(self._store, self._keys, self._settings.request_ttl_s)
        self.writer = WorkloadWriter(
            self.leadership,
            self._keys,
            self._engine,
            await self._records(),
            self._records,
            requests,
            fleet.LiveSnapshots(self._cache, self._settings.status_stale_s),
            self._on_commit,
            self._cache.known,
            self._cache.apply_written,
            window_s=self._settings.batch_window_ms / 1000,
            max_batch=self._settings.batch_max,
        )
        await self._cache.narrow(self._leads)
        self.binder = Binder(
            self.writer,
            self._router,
            self._cache,
            self.leadership.epoch,
            period_s=self._settings.bind_period_s,
        )
        self.failover = FailoverController(
            self.leadership,
            self._keys,
            self._cache,
            self.writer,
            self._engine,
            self._failover_settings,
            self._settings,
        )
        self.clusters = ClusterAdmin(
            self.leadership,
            self._keys,
            self._cache,
            requests,
            self._cluster_info,
            self.failover.drain,
        )
        health = HealthController(
            self.leadership, self._keys, self._cache, self._failover_settings,
            self.failover.on_failed,
        )  # fmt: skip
        self.writer.start()
        self.binder.start(self._settings.bind_parallelism)
        self._tasks.append(asyncio.create_task(self._assign_loop(), name="assignment"))
        self._tasks.append(asyncio.create_task(health.run(), name="health"))
        self._tasks.append(asyncio.create_task(self.failover.run(), name="failover"))
        self.rescheduler = Rescheduler(
            self._cache, self.writer, self.failover, self._rebalance_settings
        )
        self._tasks.append(asyncio.create_task(self.rescheduler.run(), name="rescheduler"))
        abandoned = AbandonedParts(
            self._keys, self._cache, self.writer, self._settings.abandoned_sweep_s
        )
        self._tasks.append(asyncio.create_task(abandoned.run(), name="abandoned-parts"))
        if self._settings.drift_check_period_s > 0:
            drift = DriftCheck(
                self.binder,
                self.writer.workloads,
                self._settings.drift_check_period_s,
                self._settings.bind_period_s,
                self._settings.bind_parallelism,
            )
            self._tasks.append(asyncio.create_task(drift.run(), name="drift-check"))
        if self._settings.compaction_interval_s > 0:
            compaction = HistoryCompaction(
                self._store, self._cache, self._settings.compaction_interval_s
            )
            self._tasks.append(asyncio.create_task(compaction.run(), name="compaction"))
        _log.info("leader duties started", extra={"epoch": self.leadership.epoch})

    async def stop(self) -> None:
        self._cache.widen_soon()  # at once: a successor may be writing already
        await cancel_and_wait(*self._tasks)
        self._tasks = []
        if self.binder is not None:
            await self.binder.stop()
        if self.writer is not None:
            await self.writer.stop()
        _log.info("leader duties stopped", extra={"epoch": self.leadership.epoch})

    async def _records(self) -> Records:
        """The workload records and the ledger as etcd holds them now (the cache caught up
        with etcd first): the writer's memory at the start, and after a commit whose
        outcome is unknown. A narrowed cache (see proxy.cache) widens for it: such a commit
        may have changed records that its writer never handed on."""
        narrowed = self._cache.narrowed
        if narrowed:
            await self._cache.widen()
        await self._cache.wait_for_revision(await self._store.revision(), _CATCH_UP_TIMEOUT_S)
        view = self._cache.view
        workloads = {key: _copy(workload) for key, workload in view.workloads.items()}
        if narrowed:
            await self._cache.narrow(self._leads)
        return Records(fleet.ledger(view), workloads)

    def _leads(self) -> bool:
        return self.leadership.is_leader

    def _on_commit(self, workload: types_pb2.Workload) -> None:
        if self.binder is not None:
            self.binder.enqueue(workload)

    async def _assign_loop(self) -> None:
        changes = self._cache.subscribe(self._keys.workers_prefix(), self._keys.clusters_prefix())
        try:
            while True:
                await self._reassign()
                await self._next_relevant(changes)
        finally:
            self._cache.unsubscribe(changes)

    async def _next_relevant(self, changes: asyncio.Queue[Change]) -> None:
        """Wait for a change of workers or cluster specs (statuses change all the time)."""
        while True:
            change = await changes.get()
            if change.resynced or change.key.startswith(self._keys.workers_prefix()):
                return
            if self._keys.is_cluster_spec(change.key):
                return

    async def _reassign(self) -> None:
        view = self._cache.view
        specs = [e.spec for e in view.clusters.values() if e.spec is not None]
        wanted = assignment.plan(specs, view.workers, self._settings.workers_per_cluster)
        writes, deletes = assignment.changed(view.assignments, wanted)
        ops: list[Op] = []
        for record in writes:
            record.epoch = self.leadership.epoch
            ops.append(Put(self._keys.assignment(record.worker), record.SerializeToString()))
        ops += [Delete(self._keys.assignment(worker)) for worker in deletes]
        if ops:
            results = await self.leadership.txn_chunked(ops)
            await self._cache.wait_for_revision(results[-1].revision, _CATCH_UP_TIMEOUT_S)
            _log.info("assignments updated", extra={"writes": len(writes), "deletes": deletes})


def _copy(workload: types_pb2.Workload) -> types_pb2.Workload:
    copied = types_pb2.Workload()
    copied.CopyFrom(workload)
    return copied
