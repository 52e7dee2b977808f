"""A fenced commit that reached etcd but whose reply was lost: the leader cannot tell whether
it took effect, so it re-reads its records and ledger from etcd before it plans anything else.
The call is answered once, from what was committed, and its reservations still count."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator

import grpc
import pytest
from proxy_support import NODE_CPU, NODES, leading, node_in_process, stub, workload
from tcp_proxy import TcpProxy

from common.etcd_launcher import EmbeddedEtcd
from common.etcd_store import EtcdStore
from common.keys import Keys
from fed.v1 import federation_pb2, types_pb2
from proxy.server import ProxyNode

pytestmark = pytest.mark.integration


@pytest.fixture
async def hop(etcd: EmbeddedEtcd) -> AsyncIterator[TcpProxy]:
    """The proxy's only way to etcd."""
    forwarder = TcpProxy("127.0.0.1", etcd.client_port)
    await forwarder.start()
    yield forwarder
    await forwarder.cut()


@pytest.fixture
async def node(hop: TcpProxy, keys: Keys, store: EtcdStore) -> AsyncIterator[ProxyNode]:
    async with node_in_process(store, keys, hop.endpoint) as started:
        yield started


def place(request_id: str, name: str, replicas: int) -> federation_pb2.PlaceWorkloadRequest:
    return federation_pb2.PlaceWorkloadRequest(
        request_id=request_id, spec=workload(name, replicas, cpu=1000)
    )


async def test_a_commit_whose_reply_was_lost_is_answered_once_and_keeps_its_reservations(
    node: ProxyNode, hop: TcpProxy, store: EtcdStore, keys: Keys, heartbeats: None
) -> None:
    await asyncio.wait_for(leading(node, keys), timeout=15)
    api = stub(node.address)
    await api.PlaceWorkload(place("warm-1", "warm", 1))  # the request log's lease is granted
    room = 3 * NODES * NODE_CPU // 1000 - 1
    half = room // 2
    committed = store.watch_prefix(keys.request("lost-1"), start_revision=await store.revision())
    async with contextlib.aclosing(committed):
        hop.drop_replies()
        placing = asyncio.ensure_future(api.PlaceWorkload(place("lost-1", "a", half)))
        await asyncio.wait_for(anext(committed), timeout=10)
    await hop.cut()  # the leader's connection breaks with its commit unanswered
    await hop.start()

    first = await asyncio.wait_for(placing, timeout=30)
    assert sum(p.replicas for p in first.workload.placement.clusters) == half
    assert await api.PlaceWorkload(place("lost-1", "a", half)) == first
    with contextlib.suppress(grpc.aio.AioRpcError):
        await api.PlaceWorkload(place("more-1", "b", room - half + 1))  # one too many

    held: dict[str, int] = defaultdict(int)
    by_workload: dict[str, int] = defaultdict(int)
    for kv in (await store.range(keys.reservations_prefix())).kvs:
        reservation = types_pb2.Reservation.FromString(kv.value)
        held[reservation.cluster] += reservation.replicas * reservation.per_replica.cpu_millis
        by_workload[reservation.workload] += reservation.replicas
    assert by_workload["team-a/a"] == half, "placed once"
    for cluster, cpu in held.items():
        assert cpu <= NODES * NODE_CPU, f"{cluster} over-committed: {cpu}m reserved"
