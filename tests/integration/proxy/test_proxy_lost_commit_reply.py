"""A fenced commit that reached etcd but whose reply was lost: the leader cannot tell whether
it took effect, so it re-reads its records and ledger from etcd before it plans anything else.
The call is answered once, from what was committed, and its reservations still count. An
admin call whose retried commit fails its compare against its own first try is answered
from its record too."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from proxy_support import NODE_CPU, NODES, leading, node_in_process, stub, workload
from tcp_proxy import TcpProxy, forwarding_to

from common.etcd_launcher import EmbeddedEtcd
from common.etcd_store import EtcdStore
from common.keys import Keys
from fed.v1 import federation_pb2, types_pb2
from proxy.server import ProxyNode
from tools.kubesim import KubeSim, SimConfig

pytestmark = pytest.mark.integration


@pytest.fixture
async def hop(etcd: EmbeddedEtcd) -> AsyncIterator[TcpProxy]:
    """The proxy's only way to etcd."""
    async with forwarding_to(etcd.client_port) as forwarder:
        yield forwarder


@pytest.fixture
async def node(hop: TcpProxy, keys: Keys, store: EtcdStore) -> AsyncIterator[ProxyNode]:
    async with node_in_process(store, keys, hop.endpoint) as started:
        yield started


def place(request_id: str, name: str, replicas: int) -> federation_pb2.PlaceWorkloadRequest:
    return federation_pb2.PlaceWorkloadRequest(
        request_id=request_id, spec=workload(name, replicas, cpu=1000)
    )


async def reply_lost(
    hop: TcpProxy, store: EtcdStore, keys: Keys, written: str, request: Any, api: Any
) -> Message:
    """Call the method for `request`, dropping etcd's replies to the proxy from the first
    request that names the key `written` (the commit); once the call's answer is recorded in
    etcd, break the proxy's connection (it reconnects at once) and return what the call
    answered."""
    method = getattr(api, type(request).__name__.removesuffix("Request"))
    recorded = keys.request(request.request_id)
    committed = store.watch_prefix(recorded, start_revision=await store.revision())
    async with contextlib.aclosing(committed):
        hop.drop_replies(after=written.encode())
        call = asyncio.ensure_future(method(request))
        await asyncio.wait_for(anext(committed), timeout=10)
    hop.reset()
    answer: Message = await asyncio.wait_for(call, timeout=30)
    return answer


async def test_a_commit_whose_reply_was_lost_is_answered_once_and_keeps_its_reservations(
    node: ProxyNode, hop: TcpProxy, store: EtcdStore, keys: Keys, heartbeats: None
) -> None:
    await asyncio.wait_for(leading(node, keys), timeout=15)
    api = stub(node.address)
    await api.PlaceWorkload(place("warm-1", "warm", 1))  # the request log's lease is granted
    room = 3 * NODES * NODE_CPU // 1000 - 1
    half = room // 2
    request = place("lost-1", "a", half)
    first = await reply_lost(hop, store, keys, keys.workload("team-a", "a"), request, api)
    assert sum(p.replicas for p in first.workload.placement.clusters) == half
    assert await api.PlaceWorkload(request) == first
    assert node.duties is not None and node.duties.binder is not None
    assert node.duties.binder.follows(("team-a", "a")), "answered but never to be bound"
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


async def test_a_registration_whose_reply_was_lost_is_answered_from_its_record(
    node: ProxyNode,
    hop: TcpProxy,
    store: EtcdStore,
    keys: Keys,
    heartbeats: None,
    tmp_path: Path,
) -> None:
    await asyncio.wait_for(leading(node, keys), timeout=15)
    api = stub(node.address)
    await api.PlaceWorkload(place("warm-1", "warm", 1))  # the request log's lease is granted
    async with KubeSim(SimConfig(clusters=1, nodes=1, controllers=False)) as sim:
        sim.write_files(tmp_path)
        (kubeconfig,) = (tmp_path / f"{name}.kubeconfig" for name in sim.clusters)
        spec = types_pb2.ClusterSpec(name="k1", kubeconfig=kubeconfig.read_text(), region="r1")
        request = federation_pb2.RegisterClusterRequest(request_id="reg-lost", spec=spec)
        answer = await reply_lost(hop, store, keys, keys.cluster_spec("k1"), request, api)
        assert answer.spec.name == "k1"
        assert await api.RegisterCluster(request) == answer
