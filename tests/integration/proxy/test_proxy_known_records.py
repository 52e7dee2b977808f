"""The leader's cache keeps the objects its writer committed (one copy of each record, handed
over by the writer), and they still say exactly what etcd holds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from proxy_support import leading, node_in_process, stub, workload

from common.etcd_launcher import EmbeddedEtcd
from common.etcd_store import EtcdStore
from common.keys import Keys
from fed.v1 import federation_pb2, types_pb2
from proxy.server import ProxyNode

pytestmark = pytest.mark.integration


@pytest.fixture
async def node(etcd: EmbeddedEtcd, keys: Keys, store: EtcdStore) -> AsyncIterator[ProxyNode]:
    """One proxy in this process, leading a fleet of c1..c3 (the heartbeats fixture)."""
    async with node_in_process(store, keys, etcd.endpoint) as started:
        yield started


async def test_the_cache_holds_the_records_the_writer_committed(
    node: ProxyNode, store: EtcdStore, keys: Keys, heartbeats: None
) -> None:
    await asyncio.wait_for(leading(node, keys), timeout=15)
    api = stub(node.address)
    answers = await asyncio.gather(
        *(
            api.PlaceWorkload(
                federation_pb2.PlaceWorkloadRequest(request_id=f"k-{i}", spec=workload(f"w{i}", 2))
            )
            for i in range(40)
        )
    )
    assert len(answers) == 40
    revision = await store.revision()
    await node.cache.wait_for_revision(revision, timeout_s=5)
    assert node.duties is not None and node.duties.writer is not None
    assert node.cache.narrowed, "the leader's records come from its writer, not the watch"
    writer, view = node.duties.writer, node.cache.view

    stored = {kv.key: kv.value for kv in (await store.range(keys.workloads_prefix())).kvs}
    assert len(stored) == 40
    for key, record in writer.workloads.items():
        assert view.workloads[key] is record, f"{key}: a second copy in the cache"
        assert record.SerializeToString() == stored[keys.workload(*key)], "changed after staging"

    reservations = (await store.range(keys.reservations_prefix())).kvs
    assert sum(types_pb2.Reservation.FromString(kv.value).replicas for kv in reservations) == 80
    for kv in reservations:
        reservation = types_pb2.Reservation.FromString(kv.value)
        held = view.reservations[reservation.cluster][reservation.id]
        assert held is writer.ledger.get(reservation.cluster, reservation.id)
        assert held.SerializeToString() == kv.value
