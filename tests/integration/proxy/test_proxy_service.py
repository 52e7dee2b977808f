"""Three real fed-proxy processes on a real etcd, clusters served by kubesim.

The workers are not part of these tests: each cluster's status (what a worker publishes)
is written by the test, so that placement runs against capacity the test controls.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from proxy_support import (
    NODE_CPU,
    NODES,
    ProxyProcess,
    leader_of,
    register_all,
    scrape,
    stub,
    workload,
)

from common.etcd_launcher import EmbeddedEtcd
from common.etcd_store import EtcdStore
from common.keys import Keys
from fed.v1 import federation_pb2, types_pb2
from proxy.ledger import Ledger
from tools.kubesim import KubeSim, SimConfig

pytestmark = pytest.mark.integration


@pytest.fixture
def proxies(etcd: EmbeddedEtcd, keys: Keys) -> Iterator[list[ProxyProcess]]:
    started: list[ProxyProcess] = []
    try:
        for name in ("p1", "p2", "p3"):
            started.append(ProxyProcess(etcd.endpoint, keys, name))
        yield started
    finally:
        for proxy in started:
            proxy.stop()


@pytest.fixture
async def clusters(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """Three kubesim clusters: name -> kubeconfig document."""
    async with KubeSim(SimConfig(clusters=3, nodes=1, controllers=False)) as sim:
        sim.write_files(tmp_path)
        yield {name: (tmp_path / f"{name}.kubeconfig").read_text() for name in sim.clusters}


async def test_one_leader_and_health_per_role(proxies: list[ProxyProcess]) -> None:
    leader, followers = await leader_of(proxies)
    topology = await stub(followers[0].address).GetTopology(federation_pb2.GetTopologyRequest())
    assert topology.leader.member.address == leader.address
    assert {p.member.id for p in topology.proxies} == {"p1", "p2", "p3"}
    for proxy in proxies:
        health = health_pb2_grpc.HealthStub(grpc.aio.insecure_channel(proxy.address))
        api = await health.Check(health_pb2.HealthCheckRequest(service="fed.v1.Federation"))
        assert api.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_follower_forwards_admin_writes_and_answers_once_per_request_id(
    proxies: list[ProxyProcess], clusters: dict[str, str], store: EtcdStore, keys: Keys
) -> None:
    _, followers = await leader_of(proxies)
    api = stub(followers[0].address)
    spec = types_pb2.ClusterSpec(name="c1", kubeconfig=clusters["c1"], region="r1", zone="r1-a")
    request = federation_pb2.RegisterClusterRequest(request_id="reg-1", spec=spec)
    first = await api.RegisterCluster(request)
    again = await stub(followers[1].address).RegisterCluster(request)
    assert first == again
    assert first.spec.state == types_pb2.ADMIN_STATE_ACTIVE
    assert not first.spec.kubeconfig, "credentials are never sent back"
    stored = types_pb2.ClusterSpec.FromString((await store.get(keys.cluster_spec("c1"))).value)  # type: ignore[union-attr]
    assert stored.kubeconfig == clusters["c1"]

    cordoned = await api.CordonCluster(
        federation_pb2.CordonClusterRequest(request_id="cordon-1", name="c1", reason="drill")
    )
    assert cordoned.spec.state == types_pb2.ADMIN_STATE_CORDONED


@pytest.mark.parametrize(
    ("spec", "code", "field"),
    [
        (types_pb2.ClusterSpec(name="Bad_Name", kubeconfig="x"), "INVALID_ARGUMENT", "spec.name"),
        (types_pb2.ClusterSpec(name="c9"), "INVALID_ARGUMENT", "spec.kubeconfig"),
        (
            types_pb2.ClusterSpec(
                name="c9",
                kubeconfig="clusters: [{name: x, cluster: {server: 'http://127.0.0.1:9'}}]",
            ),
            "FAILED_PRECONDITION",
            "cannot reach",
        ),
    ],
)
async def test_bad_registrations_get_a_clear_status(
    proxies: list[ProxyProcess], spec: types_pb2.ClusterSpec, code: str, field: str
) -> None:
    leader, _ = await leader_of(proxies)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub(leader.address).RegisterCluster(
            federation_pb2.RegisterClusterRequest(request_id="bad", spec=spec)
        )
    assert raised.value.code().name == code
    assert field in (raised.value.details() or "")


async def test_place_reserves_once_per_request_id_and_names_bad_fields(
    proxies: list[ProxyProcess],
    clusters: dict[str, str],
    store: EtcdStore,
    keys: Keys,
    heartbeats: None,
) -> None:
    leader, followers = await leader_of(proxies)
    api = stub(followers[0].address)
    await register_all(api, clusters)

    request = federation_pb2.PlaceWorkloadRequest(request_id="place-web", spec=workload("web", 6))
    first = await api.PlaceWorkload(request)
    again = await stub(leader.address).PlaceWorkload(request)
    assert first == again
    assert sum(p.replicas for p in first.workload.placement.clusters) == 6
    reservations = (await store.range(keys.reservations_prefix())).kvs
    assert sum(types_pb2.Reservation.FromString(kv.value).replicas for kv in reservations) == 6

    bad = federation_pb2.PlaceWorkloadRequest(request_id="bad-1", spec=workload("w2", -1))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.PlaceWorkload(bad)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "spec.replicas" in (raised.value.details() or "")

    scaled = await api.ScaleWorkload(
        federation_pb2.ScaleWorkloadRequest(
            request_id="scale-web", namespace="team-a", name="web", replicas=9
        )
    )
    assert sum(p.replicas for p in scaled.workload.placement.clusters) == 9


async def test_concurrent_placements_never_over_commit(
    proxies: list[ProxyProcess],
    clusters: dict[str, str],
    store: EtcdStore,
    keys: Keys,
    heartbeats: None,
) -> None:
    leader, _ = await leader_of(proxies)
    await register_all(stub(leader.address), clusters)
    apis = [stub(p.address) for p in proxies]

    async def place(index: int) -> str:
        request = federation_pb2.PlaceWorkloadRequest(
            request_id=f"race-{index}", spec=workload(f"w{index}", 1, cpu=1000)
        )
        try:
            await apis[index % len(apis)].PlaceWorkload(request, timeout=30)
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
            assert "c1" in (error.details() or ""), "per-cluster reasons are named"
            return "exhausted"
        return "placed"

    outcomes = await asyncio.gather(*(place(i) for i in range(300)))
    capacity = len(clusters) * NODES * (NODE_CPU // 1000)
    assert outcomes.count("placed") == capacity
    reservations = [
        types_pb2.Reservation.FromString(kv.value)
        for kv in (await store.range(keys.reservations_prefix())).kvs
    ]
    ledger = Ledger(reservations)
    for name in clusters:
        assert ledger.reserved(name).cpu_millis <= NODES * NODE_CPU
    print(
        json.dumps({"placed": outcomes.count("placed"), "exhausted": outcomes.count("exhausted")})
    )


async def test_list_clusters_honours_the_label_selector(
    proxies: list[ProxyProcess], clusters: dict[str, str]
) -> None:
    leader, _ = await leader_of(proxies)
    api = stub(leader.address)
    await register_all(api, clusters)
    region = types_pb2.LabelSelector(match_labels={"topology.kubernetes.io/region": "r2"})
    listed = await api.ListClusters(federation_pb2.ListClustersRequest(selector=region))
    assert [info.spec.name for info in listed.clusters] == ["c2"]
    not_r2 = types_pb2.LabelSelector(
        match_expressions=[types_pb2.LabelSelectorRequirement(
            key="topology.kubernetes.io/region", operator="NotIn", values=["r2"])]
    )  # fmt: skip
    listed = await api.ListClusters(federation_pb2.ListClustersRequest(selector=not_r2))
    assert [info.spec.name for info in listed.clusters] == ["c1", "c3"]
    bad = types_pb2.LabelSelector(
        match_expressions=[types_pb2.LabelSelectorRequirement(key="x", operator="Near")]
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.ListClusters(federation_pb2.ListClustersRequest(selector=bad))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "selector.match_expressions[0].operator" in (raised.value.details() or "")


async def test_metrics_show_requests_forwarding_batches_plugins_and_loop_lag(
    proxies: list[ProxyProcess],
    clusters: dict[str, str],
    store: EtcdStore,
    keys: Keys,
    heartbeats: None,
) -> None:
    leader, followers = await leader_of(proxies)
    await register_all(stub(leader.address), clusters)
    request = federation_pb2.PlaceWorkloadRequest(request_id="m-1", spec=workload("metered", 2))
    await stub(followers[0].address).PlaceWorkload(request)
    on_leader = await scrape(store, keys, leader)
    on_follower = await scrape(store, keys, followers[0])
    assert 'fed_proxy_request_seconds_count{method="PlaceWorkload",outcome="OK"} 1.0' in on_leader
    assert 'fed_proxy_forwarded_total{method="PlaceWorkload"} 1.0' in on_follower
    assert "fed_leader 1.0" in on_leader and "fed_leader 0.0" in on_follower
    assert "fed_cache_narrowed 1.0" in on_leader and "fed_cache_narrowed 0.0" in on_follower
    (age_line,) = [
        line for line in on_leader.splitlines()
        if line.startswith("fed_leader_lease_ack_age_seconds ")
    ]  # fmt: skip
    assert 0 <= float(age_line.split()[1]) < 3, "the leader's keepalive is acknowledged"
    assert 'fed_scheduler_plugin_seconds_count{kind="filter",plugin="fit"}' in on_leader
    assert "fed_scheduler_classes_per_batch_count 1.0" in on_leader
    reservations = len((await store.range(keys.reservations_prefix())).kvs)
    assert f"fed_reservations {float(reservations)}" in on_leader
    for text in (on_leader, on_follower):
        lag_samples = sum(
            float(line.split()[1]) for line in text.splitlines()
            if line.startswith("fed_event_loop_lag_seconds_count{")
        )  # fmt: skip
        assert lag_samples > 0, "every replica samples its event loop's lag"


async def test_writes_reaching_a_follower_together_reach_the_leader_in_few_calls(
    proxies: list[ProxyProcess],
    clusters: dict[str, str],
    store: EtcdStore,
    keys: Keys,
    heartbeats: None,
) -> None:
    """The follower forwards concurrent writes in ForwardWrites batches; each keeps its own
    answer (a refusal names the field) and is readable on the follower once answered."""
    leader, followers = await leader_of(proxies)
    await register_all(stub(leader.address), clusters)
    api = stub(followers[0].address)
    names = [f"fw-{index}" for index in range(30)]
    requests = [
        federation_pb2.PlaceWorkloadRequest(request_id=name, spec=workload(name, 1, cpu=100))
        for name in names
    ]
    requests.append(
        federation_pb2.PlaceWorkloadRequest(request_id="fw-bad", spec=workload("fw-bad", -1))
    )
    outcomes = await asyncio.gather(
        *(api.PlaceWorkload(request) for request in requests), return_exceptions=True
    )
    *placed, refused = outcomes
    assert isinstance(refused, grpc.aio.AioRpcError)
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "spec.replicas" in (refused.details() or "")
    for name, answer in zip(names, placed, strict=True):
        assert isinstance(answer, federation_pb2.PlaceWorkloadResponse), answer
        assert answer.workload.spec.name == name
        read = await api.GetWorkload(
            federation_pb2.GetWorkloadRequest(namespace="team-a", name=name)
        )
        assert read.generation == answer.workload.generation
    text = await scrape(store, keys, followers[0])
    samples = dict(
        line.rsplit(" ", 1)
        for line in text.splitlines()
        if line.startswith("fed_proxy_forward_batch_size_")
    )
    assert float(samples["fed_proxy_forward_batch_size_sum"]) == len(requests)
    assert float(samples["fed_proxy_forward_batch_size_count"]) < len(requests)


async def test_repeated_request_ids_get_their_first_answer_whatever_changed_since(
    proxies: list[ProxyProcess],
    clusters: dict[str, str],
    store: EtcdStore,
    keys: Keys,
    heartbeats: None,
) -> None:
    """The leader checks request ids inside its commit (no read for new calls): a repeat
    arriving alone, mixed with new calls, concurrently with its twin, or after the fleet
    filled up still gets its first answer and has one effect."""
    leader, _ = await leader_of(proxies)
    api = stub(leader.address)
    await register_all(api, clusters)
    capacity = len(clusters) * NODES * (NODE_CPU // 1000)

    def place(request_id: str, name: str, replicas: int) -> federation_pb2.PlaceWorkloadRequest:
        spec = workload(name, replicas, cpu=1000)
        return federation_pb2.PlaceWorkloadRequest(request_id=request_id, spec=spec)

    first = await api.PlaceWorkload(place("first", "first", 2))
    twins = await asyncio.gather(*(api.PlaceWorkload(place("twin", "twin", 2)) for _ in range(2)))
    assert twins[0] == twins[1]
    mixed = await asyncio.gather(
        api.PlaceWorkload(place("first", "first", 2)),
        *(api.PlaceWorkload(place(f"new-{i}", f"new-{i}", 1)) for i in range(5)),
    )
    assert mixed[0] == first

    def scale(request_id: str, replicas: int) -> federation_pb2.ScaleWorkloadRequest:
        return federation_pb2.ScaleWorkloadRequest(
            request_id=request_id, namespace="team-a", name="first", replicas=replicas
        )

    grown = await api.ScaleWorkload(scale("grow", 4))
    await api.ScaleWorkload(scale("shrink", 2))
    filler = place("filler", "filler", capacity - 2 - 2 - 5)
    await api.PlaceWorkload(filler)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.PlaceWorkload(place("late", "late", 1))
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert await api.PlaceWorkload(place("first", "first", 2)) == first
    assert await api.ScaleWorkload(scale("grow", 4)) == grown
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.PlaceWorkload(place("first", "other", 1))
    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS

    reservations = [
        types_pb2.Reservation.FromString(kv.value)
        for kv in (await store.range(keys.reservations_prefix())).kvs
    ]
    assert sum(item.replicas for item in reservations) == capacity
    held = {item.workload for item in reservations}
    assert held == {"team-a/first", "team-a/twin", "team-a/filler"} | {
        f"team-a/new-{i}" for i in range(5)
    }


async def test_a_leader_that_steps_down_follows_the_new_leaders_writes(
    proxies: list[ProxyProcess],
    clusters: dict[str, str],
    store: EtcdStore,
    keys: Keys,
    heartbeats: None,
) -> None:
    """A leader's cache leaves its writer's records out of its watch; once it steps down it
    must list and follow them again, or it would never see its successor's writes."""
    old, _ = await leader_of(proxies)
    await register_all(stub(old.address), clusters)
    placed = federation_pb2.PlaceWorkloadRequest(request_id="s-1", spec=workload("before", 1))
    await stub(old.address).PlaceWorkload(placed)
    candidates = (await store.range(keys.leader_prefix())).kvs
    leading_key = min(candidates, key=lambda kv: kv.create_revision).key
    await store.delete(leading_key)  # the old leader learns it at its next fenced write
    fenced = federation_pb2.PlaceWorkloadRequest(request_id="s-2", spec=workload("fenced", 1))
    with pytest.raises(grpc.aio.AioRpcError):
        await stub(old.address).PlaceWorkload(fenced)
    new, _ = await leader_of([p for p in proxies if p is not old])

    forwarded = federation_pb2.PlaceWorkloadRequest(request_id="s-3", spec=workload("after", 1))
    await stub(old.address).PlaceWorkload(forwarded)
    read = await stub(old.address).GetWorkload(
        federation_pb2.GetWorkloadRequest(namespace="team-a", name="after")
    )
    assert read.spec.name == "after"
    assert "fed_cache_narrowed 0.0" in await scrape(store, keys, old)
    assert "fed_cache_narrowed 1.0" in await scrape(store, keys, new)
