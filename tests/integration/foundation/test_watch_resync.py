"""The prefix watch never skips: resume after a disconnect, re-list after a compaction."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

import pytest
from tcp_proxy import TcpProxy

from common.etcd_launcher import EmbeddedEtcd
from common.etcd_store import EtcdStore, EventType, WatchBatch
from common.keys import Keys

pytestmark = pytest.mark.integration


class Mirror:
    """What a watcher believes the prefix holds, maintained from its batches."""

    def __init__(self) -> None:
        self.state: dict[str, bytes] = {}
        self.resyncs = 0
        self.changed = asyncio.Condition()

    async def follow(self, watch: AsyncGenerator[WatchBatch, None]) -> None:
        async for batch in watch:
            async with self.changed:
                if batch.resynced:
                    self.resyncs += 1
                    self.state = {kv.key: kv.value for kv in batch.snapshot}
                for event in batch.events:
                    if event.type is EventType.DELETE:
                        self.state.pop(event.kv.key, None)
                    else:
                        self.state[event.kv.key] = event.kv.value
                self.changed.notify_all()

    async def wait_for(self, expected: dict[str, bytes], timeout_s: float = 10) -> None:
        async with asyncio.timeout(timeout_s), self.changed:
            await self.changed.wait_for(lambda: self.state == expected)


@contextlib.asynccontextmanager
async def following(store: EtcdStore, prefix: str) -> AsyncGenerator[Mirror, None]:
    mirror = Mirror()
    task = asyncio.create_task(mirror.follow(store.watch_prefix(prefix)))
    try:
        yield mirror
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_watch_lists_then_follows(store: EtcdStore, keys: Keys) -> None:
    await store.put(keys.worker("a"), b"1")
    async with following(store, keys.workers_prefix()) as mirror:
        await mirror.wait_for({keys.worker("a"): b"1"})
        await store.put(keys.worker("b"), b"2")
        await store.delete(keys.worker("a"))
        await mirror.wait_for({keys.worker("b"): b"2"})
        assert mirror.resyncs == 1


async def test_watch_resumes_after_disconnect_without_losing_events(
    etcd: EmbeddedEtcd, store: EtcdStore, keys: Keys
) -> None:
    proxy = TcpProxy("127.0.0.1", etcd.client_port)
    await proxy.start()
    async with (
        EtcdStore([proxy.endpoint], timeout_s=2.0) as watched_store,
        following(watched_store, keys.workers_prefix()) as mirror,
    ):
        await store.put(keys.worker("w0"), b"0")
        await mirror.wait_for({keys.worker("w0"): b"0"})
        await proxy.cut()
        expected = {keys.worker(f"w{i}"): str(i).encode() for i in range(1, 200)}
        for key, value in expected.items():
            await store.put(key, value)
        await store.delete(keys.worker("w0"))
        await proxy.start()
        await mirror.wait_for(expected)
        assert mirror.resyncs == 1, "a plain reconnect must resume, not re-list"
    await proxy.cut()


async def test_watch_disconnected_across_compaction_resyncs(private_etcd: EmbeddedEtcd) -> None:
    keys = Keys("/fed")
    proxy = TcpProxy("127.0.0.1", private_etcd.client_port)
    await proxy.start()
    async with (
        EtcdStore([private_etcd.endpoint], timeout_s=2.0) as store,
        EtcdStore([proxy.endpoint], timeout_s=2.0) as watched_store,
        following(watched_store, keys.clusters_prefix()) as mirror,
    ):
        await store.put(keys.cluster_spec("c1"), b"v1")
        await mirror.wait_for({keys.cluster_spec("c1"): b"v1"})
        await proxy.cut()
        await store.put(keys.cluster_spec("c2"), b"v2")
        await store.delete(keys.cluster_spec("c1"))
        revision = await store.put(keys.cluster_spec("c3"), b"v3")
        await store.compact(revision)
        await proxy.start()
        await mirror.wait_for({keys.cluster_spec("c2"): b"v2", keys.cluster_spec("c3"): b"v3"})
        assert mirror.resyncs == 2, "the compaction must be reported as a resync"
    await proxy.cut()


async def test_watch_from_a_compacted_revision_relists(private_etcd: EmbeddedEtcd) -> None:
    keys = Keys("/fed")
    async with EtcdStore([private_etcd.endpoint], timeout_s=2.0) as store:
        old = await store.put(keys.worker("a"), b"1")
        await store.put(keys.worker("b"), b"2")
        await store.compact(await store.put(keys.worker("a"), b"3"))
        watch = store.watch_prefix(keys.workers_prefix(), start_revision=old)
        batch = await anext(watch)
        await watch.aclose()
        assert batch.resynced
        assert {kv.key: kv.value for kv in batch.snapshot} == {
            keys.worker("a"): b"3",
            keys.worker("b"): b"2",
        }
