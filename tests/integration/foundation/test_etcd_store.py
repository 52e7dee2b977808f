"""The etcd adapter against a real etcd: typed KV, transactions, fencing, chunking, leases,
a transaction sent at most once, and reconnecting after an outage."""

from __future__ import annotations

import asyncio
import contextlib
import time

import grpc
import pytest
from tcp_proxy import forwarding_to

from common.election import Election
from common.etcd_launcher import EmbeddedEtcd
from common.etcd_store import (
    Compare,
    Delete,
    EtcdStore,
    EtcdUnavailable,
    Fence,
    FencedOut,
    Put,
    TooManyOps,
)
from common.keys import Keys
from common.settings import ElectionSettings, RetrySettings

pytestmark = pytest.mark.integration


async def test_put_get_range_delete(store: EtcdStore, keys: Keys) -> None:
    first = await store.put(keys.worker("w1"), b"one")
    await store.put(keys.worker("w2"), b"two")
    got = await store.get(keys.worker("w1"))
    assert got is not None
    assert (got.value, got.create_revision, got.version) == (b"one", first, 1)

    listed = await store.range(keys.workers_prefix())
    assert [kv.value for kv in listed.kvs] == [b"one", b"two"]
    assert listed.revision >= first + 1

    assert await store.delete(keys.workers_prefix(), prefix=True) == 2
    assert await store.get(keys.worker("w1")) is None


async def test_txn_compare_decides_the_branch(store: EtcdStore, keys: Keys) -> None:
    key = keys.cluster_spec("c1")
    created = await store.txn([Compare.absent(key)], [Put(key, b"v1")])
    assert created.succeeded
    again = await store.txn([Compare.absent(key)], [Put(key, b"v2")], [Delete(key)])
    assert not again.succeeded
    assert await store.get(key) is None


async def test_written_revision_follows_changes_only(
    store: EtcdStore, keys: Keys, etcd: EmbeddedEtcd
) -> None:
    """A call that changed nothing leaves it: its revision may be another client's change."""
    key = keys.cluster_spec("c1")
    created = await store.txn([Compare.absent(key)], [Put(key, b"v1")])
    assert store.written_revision == created.revision
    async with EtcdStore([etcd.endpoint]) as other:
        elsewhere = await other.put("/elsewhere/key", b"x")
    refused = await store.txn([Compare.absent(key)], [Put(key, b"v2")])
    assert not refused.succeeded and refused.revision == elsewhere
    assert await store.delete(keys.cluster_spec("c9")) == 0
    assert store.written_revision == created.revision
    assert await store.delete(key) == 1
    assert store.written_revision > elsewhere


async def test_fenced_txn_applies_only_under_the_current_epoch(
    store: EtcdStore, keys: Keys
) -> None:
    leader_key = keys.leader(1)
    epoch = await store.put(leader_key, b"me")
    fence = Fence(leader_key, epoch)
    await store.fenced_txn(fence, [Put(keys.workload("ns", "a"), b"x")])
    assert await store.get(keys.workload("ns", "a")) is not None

    await store.delete(leader_key)
    await store.put(leader_key, b"someone else")
    with pytest.raises(FencedOut):
        await store.fenced_txn(fence, [Put(keys.workload("ns", "b"), b"y")])
    assert await store.get(keys.workload("ns", "b")) is None


async def test_fenced_txn_tells_a_failed_compare_from_a_lost_fence(
    store: EtcdStore, keys: Keys
) -> None:
    leader_key = keys.leader(2)
    fence = Fence(leader_key, await store.put(leader_key, b"me"))
    key = keys.request("r1")
    await store.put(key, b"first answer")
    result = await store.fenced_txn(fence, [Put(key, b"second")], [Compare.absent(key)])
    assert not result.succeeded
    assert (await store.get(key)).value == b"first answer"  # type: ignore[union-attr]


async def test_chunked_fenced_writes_respect_max_txn_ops(store: EtcdStore, keys: Keys) -> None:
    leadership = await Election(store, keys, ElectionSettings(ttl_s=3), value=b"me").campaign()
    ops = [Put(keys.reservation("c1", f"r{i:03d}"), b"r") for i in range(300)]
    with pytest.raises(TooManyOps):
        await store.fenced_txn(leadership.fence, ops)
    results = await leadership.txn_chunked(ops)
    assert len(results) == 3  # 127 ops per chunk with the fence taking the 128th slot
    assert len((await store.range(keys.reservations_prefix("c1"))).kvs) == 300
    await leadership.resign()


async def test_lease_keepalive_records_acknowledgements(store: EtcdStore, keys: Keys) -> None:
    lease = await store.grant_lease(2)
    first_ack = lease.last_ack
    await store.put(keys.proxy("p1"), b"addr", lease=lease.id)
    async with asyncio.timeout(3):
        acked_at = await lease.next_ack()
    assert acked_at > first_ack
    assert lease.seconds_since_ack() < 2
    assert await store.get(keys.proxy("p1")) is not None
    await lease.revoke()
    assert await store.get(keys.proxy("p1")) is None


async def test_an_at_most_once_txn_whose_reply_is_lost_raises_instead_of_retrying(
    etcd: EmbeddedEtcd, store: EtcdStore, keys: Keys
) -> None:
    key = keys.worker("once")
    async with (
        forwarding_to(etcd.client_port) as hop,
        EtcdStore([hop.endpoint], timeout_s=2.0) as remote,
    ):
        await remote.put(keys.worker("connected"), b"")
        applied = store.watch_prefix(key, start_revision=await store.revision())
        async with contextlib.aclosing(applied):
            hop.drop_replies(after=key.encode())
            txn = asyncio.ensure_future(
                remote.txn([Compare(key, "create", "==", 0)], [Put(key, b"1")], at_most_once=True)
            )
            await asyncio.wait_for(anext(applied), timeout=10)
        hop.reset()  # a retry would get through at once, and read as a failed compare
        with pytest.raises(EtcdUnavailable):
            await txn
        again = await remote.txn([Compare(key, "create", "==", 0)], [Put(key, b"2")])
        assert not again.succeeded, "the first one was applied although it raised"


async def test_after_a_long_outage_the_store_reconnects_within_its_retry_backoff(
    etcd: EmbeddedEtcd, keys: Keys
) -> None:
    """gRPC's own reconnect backoff would have grown to ~6.5 s by the end of this outage
    (1 s x 1.6 per failed attempt), so the first call could wait 1.3-7 s after etcd is back;
    the store's channel follows its retry policy (here at most 0.2 s) instead."""
    policy = RetrySettings(attempts=5, initial_backoff_s=0.05, max_backoff_s=0.2)
    async with (
        forwarding_to(etcd.client_port) as hop,
        EtcdStore([hop.endpoint], timeout_s=2.0, retry_policy=policy) as remote,
    ):
        await remote.put(keys.worker("w"), b"1")
        await hop.cut()
        outage_ends = time.monotonic() + 12.0
        while time.monotonic() < outage_ends:
            with contextlib.suppress(EtcdUnavailable):
                await remote.get(keys.worker("w"))
        await hop.start()
        back = time.monotonic()
        while True:
            with contextlib.suppress(EtcdUnavailable):
                await remote.get(keys.worker("w"))
                break
        assert time.monotonic() - back < 1.0


async def test_chunks_stay_under_the_servers_request_limit() -> None:
    """Six 100 KB values are one request too large for an etcd that takes 300 KB; in chunks
    cut by the same limit, every one is accepted."""
    limit = 300_000
    with EmbeddedEtcd.create(max_request_bytes=limit) as etcd:
        async with EtcdStore([etcd.endpoint], max_request_bytes=limit) as store:
            ops = [Put(f"/big/{index}", bytes(100_000)) for index in range(6)]
            with pytest.raises(grpc.aio.AioRpcError, match="request is too large"):
                await store.txn([], ops)
            chunks = list(store.chunks(ops))
            assert [len(chunk) for chunk in chunks] == [2, 2, 2]
            for chunk in chunks:
                await store.txn([], chunk)
            assert len((await store.range("/big/")).kvs) == 6


async def test_a_range_is_read_in_pages_at_one_revision(
    store: EtcdStore, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2,500 keys come in three pages; what is written between two pages is not listed."""
    prefix = f"{keys.prefix}/many/"
    names = [f"{prefix}{index:04d}" for index in range(2500)]
    for start in range(0, len(names), 100):
        await store.txn([], [Put(name, b"before") for name in names[start : start + 100]])
    read_page = store._range_page
    pages: list[int] = []

    async def page_then_write(start: bytes, end: bytes, revision: int) -> object:
        response = await read_page(start, end, revision)
        pages.append(len(response.kvs))
        await store.put(names[-1], b"changed between pages")
        await store.put(f"{prefix}new-{len(pages)}", b"added between pages")
        return response

    monkeypatch.setattr(store, "_range_page", page_then_write)
    listed = await store.range(prefix)
    assert pages == [1000, 1000, 500]
    assert [kv.key for kv in listed.kvs] == names
    assert {kv.value for kv in listed.kvs} == {b"before"}


async def test_a_watch_catches_up_over_more_than_a_grpc_message(
    store: EtcdStore, keys: Keys
) -> None:
    """etcd sends a watch's catch-up in one response of up to 1,000 revisions; sixty 100 KB
    values are 6 MB, over gRPC's default 4 MiB a message."""
    prefix = f"{keys.prefix}/history/"
    first = await store.put(f"{prefix}first", b"x")
    for index in range(60):
        await store.put(f"{prefix}{index:02d}", bytes(100_000))
    events = 0
    async with asyncio.timeout(30):  # stuck, it breaks and resumes without end
        async for batch in store.watch_prefix(prefix, start_revision=first):
            events += len(batch.events)
            if events == 61:
                break
