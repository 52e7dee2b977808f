"""The proxy's local view of /fed follows etcd, including lease expiry and resyncs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tcp_proxy import TcpProxy

from common.etcd_launcher import EmbeddedEtcd
from common.etcd_store import Delete, EtcdStore, Put
from common.keys import Keys
from common.membership import Registration
from fed.v1 import types_pb2
from proxy.cache import FedCache

pytestmark = pytest.mark.integration


async def test_view_follows_records_of_every_kind(store: EtcdStore, keys: Keys) -> None:
    cache = FedCache(store, keys)
    await store.put(keys.cluster_spec("c1"), types_pb2.ClusterSpec(name="c1").SerializeToString())
    await cache.start()
    assert cache.view.clusters["c1"].spec.name == "c1"  # type: ignore[union-attr]

    status = types_pb2.ClusterStatus(cluster="c1", nodes_total=3)
    workload = types_pb2.Workload(spec=types_pb2.WorkloadSpec(namespace="ns", name="web"))
    reservation = types_pb2.Reservation(id="r1", cluster="c1", replicas=2)
    await store.put(keys.cluster_status("c1"), status.SerializeToString())
    await store.put(keys.workload("ns", "web"), workload.SerializeToString())
    revision = await store.put(keys.reservation("c1", "r1"), reservation.SerializeToString())
    await cache.wait_for_revision(revision, timeout_s=5)
    assert cache.view.clusters["c1"].status.nodes_total == 3  # type: ignore[union-attr]
    assert cache.view.workloads["ns", "web"].spec.name == "web"
    assert cache.view.reservations["c1"]["r1"].replicas == 2

    await store.delete(keys.reservation("c1", "r1"))
    revision = await store.put(keys.cluster_spec("c2"), b"")
    await cache.wait_for_revision(revision, timeout_s=5)
    assert "c1" not in cache.view.reservations
    assert set(cache.view.clusters) == {"c1", "c2"}
    await cache.stop()


async def test_registrations_appear_and_vanish_with_their_lease(
    store: EtcdStore, keys: Keys
) -> None:
    cache = FedCache(store, keys)
    await cache.start()
    changes = cache.subscribe()
    record = types_pb2.MemberRecord(id="p1", address="127.0.0.1:1")
    registration = await Registration.register(store, keys.proxy("p1"), record, ttl_s=2)
    change = await changes.get()
    assert (change.key, change.deleted) == (keys.proxy("p1"), False)
    assert cache.view.proxies["p1"].address == "127.0.0.1:1"
    assert cache.view.proxies["p1"].HasField("started_at")

    await registration.deregister()
    change = await changes.get()
    assert (change.key, change.deleted) == (keys.proxy("p1"), True)
    assert "p1" not in cache.view.proxies
    await cache.stop()


async def test_view_is_rebuilt_when_the_watch_resyncs(private_etcd: EmbeddedEtcd) -> None:
    keys = Keys("/fed")
    proxy = TcpProxy("127.0.0.1", private_etcd.client_port)
    await proxy.start()
    async with (
        EtcdStore([private_etcd.endpoint], timeout_s=2.0) as store,
        EtcdStore([proxy.endpoint], timeout_s=2.0) as cached_store,
    ):
        cache = FedCache(cached_store, keys)
        await store.put(keys.worker("w1"), types_pb2.MemberRecord(id="w1").SerializeToString())
        await cache.start()
        changes = cache.subscribe()
        await proxy.cut()
        await store.delete(keys.worker("w1"))
        revision = await store.put(
            keys.worker("w2"), types_pb2.MemberRecord(id="w2").SerializeToString()
        )
        await store.compact(revision)
        await proxy.start()
        change = await changes.get()
        assert change.resynced
        assert set(cache.view.workers) == {"w2"}
        await cache.stop()
    await proxy.cut()


def workload_put(keys: Keys, name: str, replicas: int) -> tuple[str, bytes]:
    record = types_pb2.Workload(
        spec=types_pb2.WorkloadSpec(namespace="ns", name=name, replicas=replicas)
    )
    return keys.workload("ns", name), record.SerializeToString()


@pytest.fixture
async def narrowed(store: EtcdStore, keys: Keys) -> AsyncIterator[FedCache]:
    """A cache narrowed as a leader's is, whose writer stays the only one."""
    cache = FedCache(store, keys)
    await cache.start()
    await cache.narrow(lambda: True)
    try:
        yield cache
    finally:
        await cache.stop()


async def test_a_narrowed_view_takes_the_writers_records_from_the_writer_only(
    narrowed: FedCache, store: EtcdStore, keys: Keys
) -> None:
    cache = narrowed
    changes = cache.subscribe(keys.workloads_prefix())
    everything = cache.subscribe()
    key, value = workload_put(keys, "by-writer", 2)
    revision = await store.put(key, value)
    cache.apply_written(revision, [Put(keys.request("r-1"), b"answer"), Put(key, value)])
    assert cache.view.workloads["ns", "by-writer"].spec.replicas == 2
    assert (await changes.get()).key == key
    assert (everything.get_nowait().key, everything.empty()) == (key, True)

    stray_key, stray_value = workload_put(keys, "not-handed-on", 1)
    await store.put(stray_key, stray_value)
    revision = await store.put(keys.cluster_spec("c1"), b"")
    await cache.wait_for_revision(revision, timeout_s=5)
    assert "c1" in cache.view.clusters, "the shared range is still followed"
    assert ("ns", "not-handed-on") not in cache.view.workloads, "the watch leaves them out"
    assert changes.empty()

    await cache.widen()
    assert not cache.narrowed
    assert set(cache.view.workloads) == {("ns", "by-writer"), ("ns", "not-handed-on")}
    cache.apply_written(revision, [Delete(key)])
    assert ("ns", "by-writer") in cache.view.workloads, "a wide view takes etcd's word only"


async def test_a_narrowed_view_that_resyncs_keeps_the_writers_records(
    narrowed: FedCache, store: EtcdStore, keys: Keys
) -> None:
    cache = narrowed
    key, value = workload_put(keys, "kept", 3)
    cache.apply_written(await store.put(key, value), [Put(key, value)])
    await cache.stop()
    await store.put(keys.cluster_spec("c1"), b"")
    await store.compact(await store.put(keys.cluster_spec("c2"), b""))

    await cache.narrow(lambda: True)  # from a compacted revision: the shared range is listed again
    await cache.wait_for_revision(await store.revision(), timeout_s=5)
    assert set(cache.view.clusters) == {"c1", "c2"}
    assert cache.view.workloads["ns", "kept"].spec.replicas == 3
    assert list(cache.view.workload_order.sorted_keys()) == [("ns", "kept")]


async def test_a_narrowed_view_whose_writer_lost_the_lead_holds_readers_until_it_widens(
    store: EtcdStore, keys: Keys
) -> None:
    leads = True
    cache = FedCache(store, keys)
    await cache.start()
    await cache.narrow(lambda: leads)
    key, value = workload_put(keys, "by-successor", 1)
    written = await store.put(key, value)  # a successor's commit: the narrowed watch skips it
    shared = await store.put(keys.cluster_spec("c1"), b"")
    await cache.wait_for_revision(shared, timeout_s=5)

    leads = False
    waiting = asyncio.ensure_future(cache.wait_for_revision(written, timeout_s=5))
    await asyncio.sleep(0)  # the waiter runs up to its condition
    assert not waiting.done(), "the shared range alone no longer makes the view whole"
    await cache.widen()
    await waiting
    assert cache.view.workloads["ns", "by-successor"].spec.replicas == 1
    await cache.stop()


async def test_a_new_term_that_narrows_cancels_the_last_terms_widening(
    narrowed: FedCache, store: EtcdStore, keys: Keys
) -> None:
    cache = narrowed
    cache.widen_soon()  # the last term ended; a new one starts before the widening ran
    await cache.narrow(lambda: True)
    assert cache.narrowed
    assert cache._widening is None, "nothing left to widen the new term's watch later"
    key, value = workload_put(keys, "new-term", 1)
    cache.apply_written(await store.put(key, value), [Put(key, value)])
    assert ("ns", "new-term") in cache.view.workloads


async def test_narrowing_after_the_lead_was_lost_widens_again(
    narrowed: FedCache, store: EtcdStore, keys: Keys
) -> None:
    """A reload narrows again just as the step-down's widening ran: nothing would widen."""
    cache = narrowed
    await cache.widen()  # the step-down widened (the reload had widened first)
    await cache.narrow(lambda: False)  # the reload's narrowing lands after the lead was lost
    key, value = workload_put(keys, "by-successor", 1)
    written = await store.put(key, value)
    await cache.wait_for_revision(written, timeout_s=5)
    assert not cache.narrowed
    assert cache.view.workloads["ns", "by-successor"].spec.replicas == 1
