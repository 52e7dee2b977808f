"""Helpers for tests that run real fed-proxy processes: start, find the leader, feed status."""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.request
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.etcd_store import EtcdStore
from common.keys import Keys
from common.settings import load_settings
from fed.v1 import federation_pb2, federation_pb2_grpc, types_pb2
from proxy.ledger import Ledger
from proxy.server import ProxyNode
from proxy.settings import ProxySettings
from tools.devstack.child import JsonLinesChild

GIB = 1 << 30
NODES, NODE_CPU, NODE_MEM = 10, 4000, 16 * GIB


class ProxyProcess(JsonLinesChild):
    def __init__(
        self,
        endpoint: str,
        keys: Keys,
        name: str,
        ttl_s: int = 3,
        config: Path | None = None,
        overrides: dict[str, object] | None = None,
    ) -> None:
        settings = {
            "etcd.prefix": keys.prefix,
            "election.ttl_s": ttl_s,
            "election.safety_margin_s": 0.5,
            "observability.log_level": "WARNING",
        } | (overrides or {})
        args = ["--etcd", endpoint, "--id", name]
        if config is not None:
            args += ["--config", str(config)]
        for key, value in settings.items():
            args += ["--set", f"{key}={value}"]
        super().__init__(name, "proxy", args)
        ready, _ = self.expect("ready", timeout_s=20)
        self.address: str = ready["address"]


def stub(address: str) -> federation_pb2_grpc.FederationAsyncStub:
    return federation_pb2_grpc.FederationStub(grpc.aio.insecure_channel(address))  # type: ignore[return-value]


async def leader_of(proxies: list[ProxyProcess]) -> tuple[ProxyProcess, list[ProxyProcess]]:
    """The leader (by gRPC health) and the followers, once one leads."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for proxy in proxies:
            health = health_pb2_grpc.HealthStub(grpc.aio.insecure_channel(proxy.address))
            answer = await health.Check(
                health_pb2.HealthCheckRequest(service="fed.v1.FederationLeader")
            )
            if answer.status == health_pb2.HealthCheckResponse.SERVING:
                return proxy, [p for p in proxies if p is not proxy]
        await asyncio.sleep(0.1)
    raise AssertionError("no proxy became leader")


async def publish_status(store: EtcdStore, keys: Keys, name: str) -> None:
    """What a worker would publish for a cluster of NODES empty nodes."""
    status = types_pb2.ClusterStatus(
        cluster=name,
        reachable=True,
        allocatable=types_pb2.Resources(
            cpu_millis=NODES * NODE_CPU, memory_bytes=NODES * NODE_MEM, pods=NODES * 110
        ),
        nodes_total=NODES,
        nodes_ready=NODES,
        node_grades=[
            types_pb2.NodeGrade(
                free_cpu_millis=NODE_CPU, free_memory_bytes=NODE_MEM, free_pods=110, count=NODES
            )
        ],
    )
    status.heartbeat.GetCurrentTime()
    await store.put(keys.cluster_status(name), status.SerializeToString())


@contextlib.asynccontextmanager
async def heartbeating(store: EtcdStore, keys: Keys, names: Iterable[str]) -> AsyncIterator[None]:
    """Publish each cluster's status every second, as its worker would, for the block."""

    async def beat() -> None:
        while True:
            for name in names:
                await publish_status(store, keys, name)
            await asyncio.sleep(1.0)

    task = asyncio.create_task(beat())
    try:
        await asyncio.sleep(0)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def register_all(api: federation_pb2_grpc.FederationAsyncStub, clusters: dict[str, str]):  # type: ignore[no-untyped-def]
    for index, (name, kubeconfig) in enumerate(sorted(clusters.items())):
        spec = types_pb2.ClusterSpec(
            name=name, kubeconfig=kubeconfig, region=f"r{index + 1}", zone=f"r{index + 1}-a"
        )
        await api.RegisterCluster(
            federation_pb2.RegisterClusterRequest(request_id=f"reg-{name}", spec=spec)
        )


def workload(
    name: str, replicas: int, cpu: int = 1000, memory: int = GIB
) -> types_pb2.WorkloadSpec:
    return types_pb2.WorkloadSpec(
        namespace="team-a",
        name=name,
        replicas=replicas,
        resources=types_pb2.Resources(cpu_millis=cpu, memory_bytes=memory),
    )


@contextlib.asynccontextmanager
async def node_in_process(
    store: EtcdStore, keys: Keys, endpoint: str, overrides: Sequence[str] = ()
) -> AsyncIterator[ProxyNode]:
    """One proxy in this process, on etcd at `endpoint`, with cluster records c1..c3 (their
    status comes from the `heartbeats` fixture), and `overrides` of its settings."""
    for name in ("c1", "c2", "c3"):
        spec = types_pb2.ClusterSpec(
            name=name,
            endpoint="http://127.0.0.1:9",
            region="r1",
            state=types_pb2.ADMIN_STATE_ACTIVE,
        )
        await store.put(keys.cluster_spec(name), spec.SerializeToString())
    settings = load_settings(
        ProxySettings,
        overrides=[f"etcd.prefix={keys.prefix}", "observability.log_level=WARNING", *overrides],
    )
    node = ProxyNode(settings, [endpoint])
    await node.start()
    try:
        yield node
    finally:
        await node.stop(grace_s=0.5)


def _ready(node: ProxyNode) -> bool:
    clusters = node.cache.view.clusters.values()
    return node.duties is not None and all(
        e.health is not None and e.health.health == types_pb2.CLUSTER_HEALTH_READY for e in clusters
    )


async def leading(node: ProxyNode, keys: Keys) -> None:
    """Until the node leads with every cluster Ready (re-checked at each cluster record)."""
    changes = node.cache.subscribe(keys.clusters_prefix())
    try:
        while not _ready(node):
            await changes.get()
    finally:
        node.cache.unsubscribe(changes)


async def scrape(store: EtcdStore, keys: Keys, proxy: ProxyProcess) -> str:
    """The proxy's /metrics page, at the address its member record gives."""
    record = await store.get(keys.proxy(proxy.name))
    assert record is not None, f"{proxy.name} is not registered"
    url = f"http://{types_pb2.MemberRecord.FromString(record.value).metrics_address}/metrics"

    def read() -> str:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()

    return await asyncio.to_thread(read)


RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


async def assert_placed_once(
    survivors: list,
    store: EtcdStore,
    keys: Keys,
    acknowledged: dict[str, federation_pb2.PlaceWorkloadResponse],
    clusters: dict[str, str],
) -> None:
    """Every acknowledged call, sent again to a surviving replica, gets its first answer and
    has no second effect (the counts are taken after the repeats); every acknowledged
    placement is in etcd as answered, nothing else is, every reservation backs exactly one
    placement, and no cluster is over-committed."""
    for index, (request_id, answer) in enumerate(sorted(acknowledged.items())):
        spec = answer.workload.spec
        again = federation_pb2.PlaceWorkloadRequest(request_id=request_id, spec=spec)
        assert await survivors[index % len(survivors)].PlaceWorkload(again, timeout=10) == answer

    workloads = {
        kv.key: types_pb2.Workload.FromString(kv.value)
        for kv in (await store.range(keys.workloads_prefix())).kvs
    }
    reservations = [
        types_pb2.Reservation.FromString(kv.value)
        for kv in (await store.range(keys.reservations_prefix())).kvs
    ]
    for response in acknowledged.values():
        spec = response.workload.spec
        stored = workloads[keys.workload(spec.namespace, spec.name)]
        assert stored.placement == response.workload.placement
    assert len(workloads) == len(acknowledged), "no workload placed twice, lost or half-made"
    reserved_by_id = {r.id: r for r in reservations}
    placed_ids = {p.reservation_id for w in workloads.values() for p in w.placement.clusters}
    assert placed_ids == set(reserved_by_id), "every reservation backs exactly one placement"
    wanted = sum(w.spec.replicas for w in workloads.values())
    assert sum(r.replicas for r in reservations) == wanted
    ledger = Ledger(reservations)
    for cluster in clusters:
        assert ledger.reserved(cluster).cpu_millis <= NODES * NODE_CPU, f"{cluster} over-committed"


async def place_with_retries(
    apis: list, request: federation_pb2.PlaceWorkloadRequest, index: int
) -> federation_pb2.PlaceWorkloadResponse | None:
    """The real client's behaviour: same request_id, next replica, for up to 20 s. None when
    the fleet has no room (RESOURCE_EXHAUSTED is an answer, not a failure)."""
    deadline = time.monotonic() + 20
    attempt = index
    while True:
        try:
            return await apis[attempt % len(apis)].PlaceWorkload(request, timeout=5)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                return None
            if error.code() not in RETRYABLE or time.monotonic() > deadline:
                raise
            attempt += 1
            await asyncio.sleep(0.05)
