"""The binder parks a workload whose cluster has no live worker, and binds it when one comes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from unit.controllers.binder_fakes import KEYS, FakeCache, FakeWriter, fake_binder

from fed.v1 import types_pb2, worker_pb2
from proxy.binder import Binder
from proxy.cache import Change
from proxy.routing import NoWorker

Phase = types_pb2.WorkloadPhase


class FakeRouter:
    """Cluster c1 has no worker until `has_worker` is set; each look for a worker and each
    call is signalled."""

    def __init__(self) -> None:
        self.has_worker = False
        self.looked = asyncio.Event()
        self.called = asyncio.Event()

    def workers_for(self, cluster: str) -> list[str]:
        self.looked.set()
        return ["w1"] if self.has_worker else []

    async def call(self, cluster: str, item: worker_pb2.BatchItem) -> Any:
        self.called.set()
        if not self.has_worker:
            raise NoWorker(cluster)
        return None


def reserved(name: str) -> types_pb2.Workload:
    part = types_pb2.ClusterPlacement(
        cluster="c1", replicas=2, reservation_id="r1", phase=Phase.WORKLOAD_PHASE_RESERVED
    )
    return types_pb2.Workload(
        spec=types_pb2.WorkloadSpec(namespace="team-a", name=name, replicas=2),
        placement=types_pb2.Placement(clusters=[part]),
        phase=Phase.WORKLOAD_PHASE_RESERVED,
    )


def binder_of(
    workload: types_pb2.Workload, period_s: float = 60.0
) -> tuple[Binder, FakeCache, FakeRouter, FakeWriter]:
    """A binder over fakes whose writer holds `workload`; its router has no worker yet."""
    cache, router, writer = FakeCache(), FakeRouter(), FakeWriter(workload)
    return fake_binder(writer, router, cache, period_s), cache, router, writer


async def test_a_workload_without_a_worker_waits_for_one_instead_of_retrying() -> None:
    workload = reserved("web")
    binder, cache, router, _writer = binder_of(workload, period_s=0.001)
    binder.start(parallelism=1)
    try:
        binder.enqueue(workload)
        await asyncio.wait_for(router.looked.wait(), timeout=5)
        assert not router.called.is_set()  # no worker: not even a call to fail
        assert binder.due(time.monotonic() + 3600) == []  # parked: no retry, however late
        cache.publish(Change(2, KEYS.cluster_status("c1")))  # not about workers
        router.has_worker = True
        cache.publish(Change(3, KEYS.workers_prefix() + "w1"))
        await asyncio.wait_for(router.called.wait(), timeout=5)
    finally:
        await binder.stop()


async def test_a_workload_without_a_worker_is_parked_as_it_is_enqueued() -> None:
    """No binding task runs here: the binder parks it on the spot, and a workload whose
    cluster has a worker is left due for a binding pass."""
    parked, bound = reserved("web"), reserved("api")
    binder, _cache, router, writer = binder_of(parked)
    binder.enqueue(parked)
    assert binder.follows(("team-a", "web"))
    assert binder.due(time.monotonic() + 3600) == []
    router.has_worker = True
    writer.workloads[("team-a", "api")] = bound
    binder.enqueue(bound)
    assert binder.due(time.monotonic()) == [bound]


async def test_a_parked_workload_deleted_meanwhile_is_dropped_when_its_worker_comes() -> None:
    workload = reserved("web")
    binder, cache, router, writer = binder_of(workload)
    binder.start(parallelism=1)
    try:
        binder.enqueue(workload)
        assert binder.follows(("team-a", "web"))
        del writer.workloads[("team-a", "web")]
        router.has_worker = True
        router.looked.clear()
        cache.publish(Change(3, KEYS.workers_prefix() + "w1"))
        await asyncio.wait_for(router.looked.wait(), timeout=5)
        assert not binder.follows(("team-a", "web"))
    finally:
        await binder.stop()


async def test_a_failure_with_a_worker_backs_off_and_stays_due() -> None:
    workload = reserved("api")
    binder, _cache, router, _writer = binder_of(workload)
    router.has_worker = True
    binder.enqueue(workload)
    assert binder.due(time.monotonic()) == [workload]
    binder._back_off(("team-a", "api"))
    assert binder.due(time.monotonic()) == []
    assert binder.due(time.monotonic() + 3600) == [workload]
