"""Registration under a lease and the live assignment: which clusters this worker serves.

The worker's MemberRecord lives at /fed/members/workers/<id> under a lease (re-registered if
the lease is lost). /fed/assignments/<id> is watched; each assigned cluster gets a slot that
follows the cluster's spec key and keeps a ClusterRuntime built from it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from google.protobuf.timestamp_pb2 import Timestamp

from common.cancellation import cancel_and_wait
from common.etcd_store import EtcdUnavailable, EventType, Lease, WatchBatch
from common.retry import Backoff
from fed.v1 import types_pb2
from worker import metrics
from worker.cluster import ClusterRuntime, WorkerContext
from worker.kube_adapter import KubeConfigError

_log = logging.getLogger(__name__)
VERSION = "0.1.0"


def latest_value(batch: WatchBatch, key: str, current: bytes | None) -> bytes | None:
    """The value of exactly `key` after `batch` (None: absent)."""
    if batch.resynced:
        return next((kv.value for kv in batch.snapshot if kv.key == key), None)
    for event in batch.events:
        if event.kv.key == key:
            current = None if event.type is EventType.DELETE else event.kv.value
    return current


async def follow_key(
    ctx: WorkerContext, key: str, on_value: Callable[[bytes | None], Awaitable[None]]
) -> None:
    """Call `on_value` with every new value of `key`, riding out etcd outages."""
    backoff = Backoff(ctx.settings.retry)
    current: bytes | None = None
    while True:
        try:
            async for batch in ctx.store.watch_prefix(key):
                value = latest_value(batch, key, current)
                if batch.resynced or value != current:
                    current = value
                    await on_value(value)
                backoff.reset()
        except EtcdUnavailable as exc:
            _log.warning("etcd watch failed, retrying", extra={"key": key, "err": str(exc)})
            await backoff.wait()


def _same_target(a: types_pb2.ClusterSpec, b: types_pb2.ClusterSpec) -> bool:
    return (a.kubeconfig, a.endpoint) == (b.kubeconfig, b.endpoint)


class ClusterSlot:
    """One assigned cluster: follows its spec and keeps a runtime that matches it."""

    def __init__(self, name: str, ctx: WorkerContext) -> None:
        self.name = name
        self.runtime: ClusterRuntime | None = None
        self.error = "waiting for the cluster's spec"
        self.publishing = False
        self._ctx = ctx
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(
            follow_key(self._ctx, self._ctx.keys.cluster_spec(self.name), self._on_spec),
            name=f"spec-{self.name}",
        )

    async def _on_spec(self, raw: bytes | None) -> None:
        spec = types_pb2.ClusterSpec.FromString(raw) if raw is not None else None
        current = self.runtime
        if spec is not None and current is not None and _same_target(current.spec, spec):
            current.spec = spec
            return
        await self._stop_runtime()
        if spec is None:
            self.error = f"cluster {self.name} has no spec"
            return
        try:
            runtime = ClusterRuntime(self.name, spec, self._ctx)
        except KubeConfigError as exc:
            self.error = f"cluster {self.name}: {exc}"
            _log.error("cannot serve cluster", extra={"cluster": self.name, "err": str(exc)})
            return
        runtime.start()
        runtime.set_publishing(self.publishing)
        self.runtime, self.error = runtime, ""
        _log.info("serving cluster", extra={"cluster": self.name, "host": runtime.adapter.host})

    def set_publishing(self, on: bool) -> None:
        self.publishing = on
        if self.runtime is not None:
            self.runtime.set_publishing(on)

    async def _stop_runtime(self) -> None:
        runtime, self.runtime = self.runtime, None
        if runtime is not None:
            await runtime.stop()

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
        await self._stop_runtime()


class Agent:
    """Registers the worker and serves the clusters its assignment names."""

    def __init__(self, ctx: WorkerContext, address: str, metrics_address: str) -> None:
        self.ctx = ctx
        self.address = address
        self.metrics_address = metrics_address
        self.slots: dict[str, ClusterSlot] = {}
        self.assignment = types_pb2.Assignment()
        self.lease: Lease | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._started = Timestamp()
        self._started.GetCurrentTime()

    @property
    def worker_id(self) -> str:
        return self.ctx.worker_id

    async def start(self) -> None:
        await self.register()
        key = self.ctx.keys.assignment(self.worker_id)
        self._tasks = [
            asyncio.create_task(follow_key(self.ctx, key, self._on_assignment), name="assignment"),
            asyncio.create_task(self._keep_registered(), name="registration"),
        ]

    def record(self) -> types_pb2.MemberRecord:
        return types_pb2.MemberRecord(
            id=self.worker_id,
            address=self.address,
            version=VERSION,
            load=0.0,
            started_at=self._started,
            metrics_address=self.metrics_address,
        )

    async def register(self) -> None:
        lease = await self.ctx.store.grant_lease(self.ctx.settings.worker.lease_ttl_s)
        await self.ctx.store.put(
            self.ctx.keys.worker(self.worker_id), self.record().SerializeToString(), lease=lease.id
        )
        self.lease = lease
        _log.info("registered", extra={"worker": self.worker_id, "lease": f"{lease.id:x}"})

    async def _keep_registered(self) -> None:
        backoff = Backoff(self.ctx.settings.retry)
        while True:
            lease = self.lease
            if lease is not None:
                await lease.expired.wait()
                await lease.stop_keepalive()
                _log.warning("lease lost, registering again", extra={"worker": self.worker_id})
            try:
                await self.register()
                backoff.reset()
            except EtcdUnavailable as exc:
                self.lease = None
                _log.warning("registration failed", extra={"err": str(exc)})
                await backoff.wait()

    async def _on_assignment(self, raw: bytes | None) -> None:
        assignment = types_pb2.Assignment.FromString(raw) if raw else types_pb2.Assignment()
        self.assignment = assignment
        wanted = set(assignment.clusters)
        for name in [n for n in self.slots if n not in wanted]:
            await self.slots.pop(name).stop()
            _log.info("cluster unassigned", extra={"cluster": name})
        for name in wanted - set(self.slots):
            slot = self.slots[name] = ClusterSlot(name, self.ctx)
            slot.start()
            _log.info("cluster assigned", extra={"cluster": name})
        publishes = set(assignment.publishes)
        for name, slot in self.slots.items():
            slot.set_publishing(name in publishes)
        metrics.CLUSTERS_SERVED.set(len(self.slots))

    def slot(self, cluster: str) -> ClusterSlot | None:
        return self.slots.get(cluster)

    async def stop(self) -> None:
        """Stop serving and deregister (revoke the lease, which deletes the member key)."""
        await cancel_and_wait(*self._tasks)
        for slot in list(self.slots.values()):
            await slot.stop()
        self.slots.clear()
        if self.lease is not None:
            await self.lease.revoke()
