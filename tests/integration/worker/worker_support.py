"""Helpers for the worker's integration tests: a worker on its own loop thread, etcd records,
kubesim truth, and brute-force reference figures."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import grpc

from common.etcd_store import EtcdStore
from common.keys import Keys
from common.settings import load_settings
from fed.v1 import types_pb2, worker_pb2_grpc
from tools.kubesim import SimThread
from worker.app import WorkerApp
from worker.cluster import ClusterRuntime
from worker.settings import WorkerSettings

T = TypeVar("T")


def worker_settings(endpoint: str, keys: Keys, worker_id: str, *extra: str) -> WorkerSettings:
    return load_settings(
        WorkerSettings,
        env={},
        overrides=[
            f"etcd.endpoints={endpoint}",
            f"etcd.prefix={keys.prefix}",
            f"worker.id={worker_id}",
            "worker.listen=127.0.0.1:0",
            "worker.status_period_s=0.5",
            "worker.status_min_interval_s=0.05",
            "worker.usage_period_s=0.3",
            "worker.kube_threads=4",
            "worker.watch_threads=16",
            "retry.max_backoff_s=0.3",
            *extra,
        ],
    )


def run_etcd(endpoint: str, work: Callable[[EtcdStore], Coroutine[Any, Any, T]]) -> T:
    """Run `work` against a fresh store connection (tests are synchronous)."""

    async def main() -> T:
        async with EtcdStore([endpoint], timeout_s=3.0) as store:
            return await work(store)

    return asyncio.run(main())


def write_records(
    endpoint: str,
    keys: Keys,
    sim: SimThread,
    assignments: dict[str, tuple[list[str], list[str]]],
) -> None:
    """Cluster specs for every assigned cluster (kubeconfig from kubesim) and assignments."""
    out = Path(sim.sim.out or ".")

    async def work(store: EtcdStore) -> None:
        names = {c for clusters, _ in assignments.values() for c in clusters}
        for name in sorted(names):
            spec = types_pb2.ClusterSpec(
                name=name,
                endpoint=sim.url(name),
                kubeconfig=(out / f"{name}.kubeconfig").read_text(),
            )
            await store.put(keys.cluster_spec(name), spec.SerializeToString())
        for worker, (clusters, publishes) in assignments.items():
            record = types_pb2.Assignment(worker=worker, clusters=clusters, publishes=publishes)
            await store.put(keys.assignment(worker), record.SerializeToString())

    run_etcd(endpoint, work)


def read_status(endpoint: str, keys: Keys, cluster: str) -> types_pb2.ClusterStatus | None:
    async def work(store: EtcdStore) -> types_pb2.ClusterStatus | None:
        kv = await store.get(keys.cluster_status(cluster))
        return types_pb2.ClusterStatus.FromString(kv.value) if kv else None

    return run_etcd(endpoint, work)


class WorkerThread:
    """A WorkerApp on its own event loop in a thread, so that tests can block on gRPC."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.app = WorkerApp(settings)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.channel: grpc.Channel | None = None

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def __enter__(self) -> WorkerThread:
        self._thread.start()
        self.call(self.app.start())
        self.channel = grpc.insecure_channel(self.app.address)
        return self

    def __exit__(self, *_: object) -> None:
        if self.channel is not None:
            self.channel.close()
        self.call(self.app.stop(grace_s=1.0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    @property
    def stub(self) -> worker_pb2_grpc.WorkerStub:
        assert self.channel is not None
        return worker_pb2_grpc.WorkerStub(self.channel)

    def runtime(self, cluster: str) -> ClusterRuntime | None:
        agent = self.app.agent
        slot = agent.slot(cluster) if agent is not None else None
        return slot.runtime if slot is not None else None

    def synced(self, cluster: str) -> ClusterRuntime | None:
        runtime = self.runtime(cluster)
        return runtime if runtime is not None and runtime.cache.synced else None


def wait_for(condition: Callable[[], T | None], timeout: float = 15.0, what: str = "") -> T:
    """Poll `condition` until it returns a truthy value (bounded; no event to await)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {what}")
        time.sleep(0.02)
