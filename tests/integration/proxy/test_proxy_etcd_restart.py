"""etcd SIGKILLed under a load of placements and started again on its data: clients retry
UNAVAILABLE with the same request_id, as the API asks. Every acknowledged placement is in
etcd once, no cluster is over-committed, and the leader's ledger is what etcd holds.

A kill rarely lands between a commit and its reply (this test passed 4 of 4 runs with the
old retried commit); test_proxy_lost_commit_reply makes that window happen every time."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from proxy_support import NODE_CPU, NODES, leading, node_in_process, publish_status, stub, workload
from tcp_proxy import TcpProxy, forwarding_to

from common.etcd_launcher import EmbeddedEtcd
from common.etcd_store import EtcdStore, EtcdUnavailable
from common.keys import Keys
from fed.v1 import federation_pb2, federation_pb2_grpc, types_pb2
from proxy.server import ProxyNode

pytestmark = pytest.mark.integration

CLIENTS, PER_CLIENT, REPLICAS = 8, 10, 2


@pytest.fixture
def restartable_etcd(tmp_path: Path) -> Iterator[EmbeddedEtcd]:
    """An etcd on a data directory that outlives its process."""
    with EmbeddedEtcd.create(tmp_path / "etcd") as server:
        yield server


@pytest.fixture
async def hop(restartable_etcd: EmbeddedEtcd) -> AsyncIterator[TcpProxy]:
    """The one endpoint everybody uses: it stays put when etcd comes back on other ports."""
    async with forwarding_to(restartable_etcd.client_port) as forwarder:
        yield forwarder


@pytest.fixture
async def hop_store(hop: TcpProxy) -> AsyncIterator[EtcdStore]:
    async with EtcdStore([hop.endpoint], timeout_s=3.0) as connected:
        yield connected


@pytest.fixture
async def node(hop: TcpProxy, keys: Keys, hop_store: EtcdStore) -> AsyncIterator[ProxyNode]:
    async with node_in_process(hop_store, keys, hop.endpoint) as started:
        yield started


@contextlib.asynccontextmanager
async def heartbeating_through_outages(store: EtcdStore, keys: Keys) -> AsyncIterator[None]:
    """Workers' status heartbeats, which keep going while etcd is down."""

    async def beat() -> None:
        while True:
            for name in ("c1", "c2", "c3"):
                with contextlib.suppress(EtcdUnavailable):
                    await publish_status(store, keys, name)
            await asyncio.sleep(1.0)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def place_until_answered(
    api: federation_pb2_grpc.FederationAsyncStub, request: federation_pb2.PlaceWorkloadRequest
) -> federation_pb2.PlaceWorkloadResponse | None:
    """The answer, retrying UNAVAILABLE; None when the fleet had no room."""
    while True:
        try:
            answer: federation_pb2.PlaceWorkloadResponse = await api.PlaceWorkload(
                request, timeout=10
            )
            return answer
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                return None
            if error.code() != grpc.StatusCode.UNAVAILABLE:
                raise
        await asyncio.sleep(0.05)  # the client's backoff


async def test_placements_survive_an_etcd_sigkill_once_each_and_within_capacity(
    node: ProxyNode,
    hop: TcpProxy,
    restartable_etcd: EmbeddedEtcd,
    hop_store: EtcdStore,
    keys: Keys,
) -> None:
    store = hop_store
    async with heartbeating_through_outages(store, keys):
        await asyncio.wait_for(leading(node, keys), timeout=15)
        api = stub(node.address)
        acknowledged: dict[str, federation_pb2.PlaceWorkloadResponse] = {}
        quarter = asyncio.Event()
        serial = itertools.count()

        async def client() -> None:
            for _ in range(PER_CLIENT):
                name = f"w{next(serial)}"
                request = federation_pb2.PlaceWorkloadRequest(
                    request_id=f"r-{name}", spec=workload(name, REPLICAS, cpu=1000)
                )
                answer = await place_until_answered(api, request)
                if answer is not None:
                    acknowledged[name] = answer
                if len(acknowledged) >= CLIENTS * PER_CLIENT // 4:
                    quarter.set()

        async def kill_and_restart() -> None:
            await quarter.wait()
            etcd_process = restartable_etcd.process
            assert etcd_process is not None
            etcd_process.kill()
            await asyncio.to_thread(etcd_process.wait)
            await asyncio.to_thread(restartable_etcd.start)
            hop.target = ("127.0.0.1", restartable_etcd.client_port)
            hop.reset()

        await asyncio.wait_for(
            asyncio.gather(kill_and_restart(), *(client() for _ in range(CLIENTS))), timeout=120
        )

        await node.cache.wait_for_revision(await store.revision(), timeout_s=10)
        reservations = [
            types_pb2.Reservation.FromString(kv.value)
            for kv in (await store.range(keys.reservations_prefix())).kvs
        ]
    held: dict[str, int] = defaultdict(int)
    by_workload: dict[str, int] = defaultdict(int)
    for reservation in reservations:
        held[reservation.cluster] += reservation.replicas * reservation.per_replica.cpu_millis
        by_workload[reservation.workload] += reservation.replicas
    assert acknowledged, "nothing was placed"
    for name in acknowledged:
        assert by_workload.pop(f"team-a/{name}") == REPLICAS, f"{name} not placed exactly once"
    assert not by_workload, f"reservations of unacknowledged placements: {dict(by_workload)}"
    for cluster, cpu in held.items():
        assert cpu <= NODES * NODE_CPU, f"{cluster} over-committed: {cpu}m reserved"
    assert node.duties is not None and node.duties.writer is not None
    in_memory = {(r.cluster, r.id) for r in node.duties.writer.ledger}
    assert in_memory == {(r.cluster, r.id) for r in reservations}, "the ledger left etcd"
    assert node.duties.binder is not None
    unbound = [name for name in acknowledged if not node.duties.binder.follows(("team-a", name))]
    assert not unbound, f"acknowledged but never to be bound: {unbound}"
