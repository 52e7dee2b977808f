"""The leader compacts etcd's history to what its view had reached one interval before."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from prometheus_client import REGISTRY
from proxy_support import ProxyProcess

from common.etcd_launcher import EmbeddedEtcd
from common.etcd_store import EtcdStore
from common.keys import Keys
from proxy.cache import FedCache
from proxy.controllers.compaction import HistoryCompaction

pytestmark = pytest.mark.integration


async def compacted_before(store: EtcdStore, keys: Keys, revision: int) -> bool:
    """Whether etcd no longer serves reads at `revision`."""
    try:
        await store.range(keys.prefix + "/", revision=revision)
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.OUT_OF_RANGE:
            return True
        raise
    return False


async def test_each_step_compacts_to_the_revision_seen_a_step_before(
    private_etcd: EmbeddedEtcd,
) -> None:
    keys = Keys("/fed")
    async with EtcdStore([private_etcd.endpoint]) as store:
        first = await store.put(keys.cluster_spec("c1"), b"1")
        second = await store.put(keys.cluster_spec("c1"), b"2")
        cache = FedCache(store, keys)
        await cache.start()
        compaction = HistoryCompaction(store, cache, interval_s=3600)

        assert await compaction.step(0) == second  # nothing seen before: nothing compacted
        assert not await compacted_before(store, keys, first)

        latest = await store.put(keys.cluster_spec("c1"), b"3")
        await cache.wait_for_revision(latest, timeout_s=5)
        assert await compaction.step(second) == latest
        assert await compacted_before(store, keys, first)
        assert not await compacted_before(store, keys, second)
        assert REGISTRY.get_sample_value("fed_etcd_compacted_revision") == second

        assert not await store.compact(first)  # compacted that far already: False, no error
        assert await compaction.step(first) == latest
        assert REGISTRY.get_sample_value("fed_etcd_compacted_revision") == second
        await cache.stop()


async def test_the_leader_compacts_on_its_interval(private_etcd: EmbeddedEtcd) -> None:
    keys = Keys("/fed")
    async with EtcdStore([private_etcd.endpoint]) as store:
        old = await store.put(keys.cluster_spec("c1"), b"1")
        await store.put(keys.cluster_spec("c1"), b"2")
        leader = ProxyProcess(
            private_etcd.endpoint, keys, "p1", overrides={"proxy.compaction_interval_s": 0.2}
        )
        try:
            async with asyncio.timeout(20):
                # etcd tells nobody of a compaction: its effect, reads refused, is polled
                while not await compacted_before(store, keys, old):  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
        finally:
            leader.stop()
