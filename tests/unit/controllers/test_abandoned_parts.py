"""The sweep of parts on removed clusters: which workloads it steps, and when it scans."""

from __future__ import annotations

import asyncio
from typing import Any

from common.keys import Keys
from fed.v1 import types_pb2
from proxy.cache import Change
from proxy.controllers.abandoned import AbandonedParts
from proxy.migration import Abandon
from proxy.view import ClusterEntry, FedView

KEYS = Keys("/fed")


class FakeCache:
    def __init__(self, clusters: tuple[str, ...]) -> None:
        self.view = FedView(
            clusters={
                name: ClusterEntry(spec=types_pb2.ClusterSpec(name=name)) for name in clusters
            }
        )
        self.queue: asyncio.Queue[Change] = asyncio.Queue()

    def subscribe(self, *prefixes: str) -> asyncio.Queue[Change]:
        return self.queue

    def unsubscribe(self, queue: asyncio.Queue[Change]) -> None:
        assert queue is self.queue


class WaitedQueue(asyncio.Queue[Change]):
    """Tells when a consumer first waits on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waited = asyncio.Event()

    async def get(self) -> Change:
        self.waited.set()
        return await super().get()


class FakeWriter:
    """Records steps; a step places the replicas on c1 unless `full`."""

    def __init__(self, *workloads: types_pb2.Workload) -> None:
        self.workloads = {(w.spec.namespace, w.spec.name): w for w in workloads}
        self.steps: list[Abandon] = []
        self.full = False

    async def submit(self, step: Any) -> types_pb2.Workload:
        self.steps.append(step)
        if not self.full:
            workload = self.workloads[step.namespace, step.name]
            for part in workload.placement.clusters:
                part.cluster = "c1"
        return self.workloads[step.namespace, step.name]


def on(name: str, *clusters: str) -> types_pb2.Workload:
    workload = types_pb2.Workload(spec=types_pb2.WorkloadSpec(namespace="team", name=name))
    for cluster in clusters:
        workload.placement.clusters.add(cluster=cluster, replicas=1)
    return workload


def sweeper(writer: FakeWriter, cache: FakeCache) -> AbandonedParts:
    return AbandonedParts(KEYS, cache, writer, period_s=3600)  # type: ignore[arg-type]


async def test_one_step_per_workload_and_removed_cluster_and_the_stranded_kept() -> None:
    writer = FakeWriter(on("a", "c1", "gone"), on("b", "c1"), on("c", "gone", "lost"))
    sweep = sweeper(writer, FakeCache(("c1",)))
    assert sweep.abandoned(sorted(writer.workloads)) == [
        Abandon("team", "a", "gone"),
        Abandon("team", "c", "gone"),
        Abandon("team", "c", "lost"),
    ]
    writer.full = True
    await sweep.sweep(writer.workloads)
    assert sweep.stranded == {("team", "a"), ("team", "c")}
    writer.full = False
    await sweep.sweep(sorted(sweep.stranded))
    assert sweep.stranded == set()


async def test_the_full_scan_waits_for_a_deleted_cluster_spec_or_a_resync() -> None:
    sweep = sweeper(FakeWriter(), FakeCache(("c1",)))
    changes: asyncio.Queue[Change] = asyncio.Queue()
    for change in (
        Change(2, KEYS.cluster_spec("c1")),
        Change(3, KEYS.cluster_status("gone"), deleted=True),
        Change(4, KEYS.cluster_spec("gone"), deleted=True),
        Change(5, KEYS.cluster_spec("c1")),
        Change(6, KEYS.prefix, resynced=True),
    ):
        changes.put_nowait(change)
    await sweep.cluster_removed(changes)
    assert changes.qsize() == 2, "returned at the deleted spec"
    await sweep.cluster_removed(changes)
    assert changes.empty(), "and at the resync"


async def test_a_cancel_in_the_tick_a_resync_wakes_the_sweep_stops_it() -> None:
    """Stepping down cancels the sweep and resyncs the cache at once: the leader's stop
    waited forever for a sweep that had lost its cancel."""
    cache = FakeCache(("c1",))
    cache.queue = queue = WaitedQueue()
    sweep = sweeper(FakeWriter(), cache)
    running = asyncio.ensure_future(sweep.run())
    await queue.waited.wait()
    cache.queue.put_nowait(Change(revision=2, key=KEYS.prefix, resynced=True))
    running.cancel()
    done, _ = await asyncio.wait([running], timeout=5)
    assert done, "the sweep ignored its cancel"
    assert running.cancelled()
