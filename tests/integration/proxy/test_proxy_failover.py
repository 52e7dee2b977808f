"""SIGKILL of the leader proxy in the middle of a placement load that exceeds the fleet.

Clients behave as the real client does: on UNAVAILABLE they retry the same request_id on
another replica; RESOURCE_EXHAUSTED is a final answer. Every acknowledged placement must be
in etcd exactly once, reservations must add up to exactly the acknowledged replicas, no
cluster may hold more than its capacity, and a new leader must take writes within 3 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from proxy_support import (
    NODE_CPU,
    NODES,
    ProxyProcess,
    assert_placed_once,
    leader_of,
    place_with_retries,
    register_all,
    scrape,
    stub,
    workload,
)

from common.etcd_launcher import EmbeddedEtcd
from common.etcd_store import EtcdStore, EventType
from common.keys import Keys
from fed.v1 import federation_pb2, types_pb2
from proxy.ledger import Ledger
from tools.kubesim import KubeSim, SimConfig

pytestmark = pytest.mark.integration
CLIENTS, PER_CLIENT = 16, 20
CPU_PER_REPLICA = 250  # 641 replicas asked of a fleet holding 480


@pytest.fixture
def proxies(etcd: EmbeddedEtcd, keys: Keys) -> Iterator[list[ProxyProcess]]:
    started = [ProxyProcess(etcd.endpoint, keys, name, ttl_s=2) for name in ("p1", "p2", "p3")]
    yield started
    for proxy in started:
        proxy.stop()


async def test_leader_sigkill_under_load_loses_doubles_and_over_commits_nothing(
    proxies: list[ProxyProcess], store: EtcdStore, keys: Keys, tmp_path: Path, heartbeats: None
) -> None:
    """The load asks for more than the fleet holds, so capacity is contested across the kill."""
    leader, followers = await leader_of(proxies)
    async with KubeSim(SimConfig(clusters=3, nodes=1, controllers=False)) as sim:
        sim.write_files(tmp_path)
        kubeconfigs = {n: (tmp_path / f"{n}.kubeconfig").read_text() for n in sim.clusters}
        await register_all(stub(leader.address), kubeconfigs)

    apis = [stub(p.address) for p in followers]
    acknowledged: dict[str, federation_pb2.PlaceWorkloadResponse] = {}
    exhausted: set[str] = set()
    halfway = asyncio.Event()

    async def place(request_id: str, name: str, replicas: int, index: int) -> None:
        spec = workload(name, replicas, cpu=CPU_PER_REPLICA, memory=64 << 20)
        request = federation_pb2.PlaceWorkloadRequest(request_id=request_id, spec=spec)
        answer = await place_with_retries(apis, request, index)
        if answer is None:
            exhausted.add(request_id)
        else:
            acknowledged[request_id] = answer

    async def client(index: int) -> None:
        for serial in range(PER_CLIENT):
            if serial == PER_CLIENT // 2:
                halfway.set()
            await place(f"load-{index}-{serial}", f"w-{index}-{serial}", 2, index)

    async def kill_and_probe() -> float:
        """SIGKILL the leader, then time the new leader's first answer to a fresh write. The
        leader dies narrowed: its cache had its own writes from its writer, not from etcd."""
        await halfway.wait()
        assert "fed_cache_narrowed 1.0" in await scrape(store, keys, leader)
        leader.process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        await place("probe", "probe", 1, 0)
        return time.monotonic() - killed_at

    takeover_s, *_ = await asyncio.gather(kill_and_probe(), *(client(i) for i in range(CLIENTS)))
    print(f"\na new leader answered a write {takeover_s:.2f} s after SIGKILL of the leader; "
          f"{len(acknowledged)} placed, {len(exhausted)} exhausted")  # fmt: skip
    assert takeover_s <= 3.0
    assert exhausted, "the load must exceed the fleet, or capacity was never contested"

    assert len(acknowledged) + len(exhausted) == CLIENTS * PER_CLIENT + 1
    survivors = [stub(p.address) for p in proxies if p is not leader]
    await assert_placed_once(survivors, store, keys, acknowledged, kubeconfigs)


async def test_follower_sigkill_with_forwarded_batches_in_flight_loses_and_doubles_nothing(
    proxies: list[ProxyProcess], store: EtcdStore, keys: Keys, tmp_path: Path, heartbeats: None
) -> None:
    """Every client writes through one follower, which forwards in ForwardWrites batches, and
    that follower is SIGKILLed halfway: a write it had forwarded may be committed with its
    answer lost, and the client's retry on another replica must get that answer, not a
    second placement."""
    leader, (doomed, other) = await leader_of(proxies)
    async with KubeSim(SimConfig(clusters=3, nodes=1, controllers=False)) as sim:
        sim.write_files(tmp_path)
        kubeconfigs = {n: (tmp_path / f"{n}.kubeconfig").read_text() for n in sim.clusters}
        await register_all(stub(leader.address), kubeconfigs)

    apis = [stub(doomed.address), stub(other.address), stub(leader.address)]
    acknowledged: dict[str, federation_pb2.PlaceWorkloadResponse] = {}
    exhausted: set[str] = set()
    halfway = asyncio.Event()
    batched: dict[str, str] = {}

    async def client(index: int) -> None:
        for serial in range(PER_CLIENT):
            if serial == PER_CLIENT // 2:
                halfway.set()
            spec = workload(f"f-{index}-{serial}", 1, cpu=CPU_PER_REPLICA, memory=64 << 20)
            request = federation_pb2.PlaceWorkloadRequest(
                request_id=f"fload-{index}-{serial}", spec=spec
            )
            answer = await place_with_retries(apis, request, 0)
            if answer is None:
                exhausted.add(request.request_id)
            else:
                acknowledged[request.request_id] = answer

    async def kill() -> None:
        await halfway.wait()
        metrics = await scrape(store, keys, doomed)
        doomed.process.send_signal(signal.SIGKILL)
        batched.update(
            line.rsplit(" ", 1)
            for line in metrics.splitlines()
            if line.startswith("fed_proxy_forward_batch_size_")
        )

    await asyncio.gather(kill(), *(client(i) for i in range(CLIENTS)))
    assert doomed.process.wait(timeout=10) == -signal.SIGKILL
    writes = float(batched["fed_proxy_forward_batch_size_sum"])
    assert writes > float(batched["fed_proxy_forward_batch_size_count"]), "batches formed"
    assert len(acknowledged) + len(exhausted) == CLIENTS * PER_CLIENT
    assert acknowledged, "the load must place something"
    survivors = [stub(other.address), stub(leader.address)]
    await assert_placed_once(survivors, store, keys, acknowledged, kubeconfigs)


async def test_a_forced_remove_the_dead_leader_never_swept_is_swept_by_the_next(
    proxies: list[ProxyProcess],
    etcd: EmbeddedEtcd,
    store: EtcdStore,
    keys: Keys,
    tmp_path: Path,
    heartbeats: None,
) -> None:
    """Every proxy is SIGKILLed, then c2's records go as a forced RemoveCluster deletes them:
    the next leader's start-up sweep places c2's replicas elsewhere, over-committing nothing."""
    leader, _ = await leader_of(proxies)
    async with KubeSim(SimConfig(clusters=3, nodes=1, controllers=False)) as sim:
        sim.write_files(tmp_path)
        kubeconfigs = {n: (tmp_path / f"{n}.kubeconfig").read_text() for n in sim.clusters}
        await register_all(stub(leader.address), kubeconfigs)
    for index in range(6):
        spec = workload(f"on-c2-{index}", 2, cpu=CPU_PER_REPLICA)
        spec.policy.preferred_regions.append("r2")
        request = federation_pb2.PlaceWorkloadRequest(request_id=f"c2-{index}", spec=spec)
        await stub(leader.address).PlaceWorkload(request)
    assert (await store.range(keys.reservations_prefix("c2"))).kvs, "c2 holds replicas"
    for proxy in proxies:
        proxy.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proxy.process.wait)
    for key in (keys.cluster_spec("c2"), keys.cluster_status("c2"), keys.cluster_health("c2")):
        await store.delete(key)

    successor = ProxyProcess(etcd.endpoint, keys, "p4", ttl_s=2)
    try:
        await asyncio.wait_for(no_parts_left_on(store, keys, "c2"), timeout=30)
    finally:
        successor.stop()
    workloads = [
        types_pb2.Workload.FromString(kv.value)
        for kv in (await store.range(keys.workloads_prefix())).kvs
    ]
    assert [sum(p.replicas for p in w.placement.clusters) for w in workloads] == [2] * 6
    reservations = [
        types_pb2.Reservation.FromString(kv.value)
        for kv in (await store.range(keys.reservations_prefix())).kvs
    ]
    assert {r.cluster for r in reservations} <= {"c1", "c3"}
    assert sum(r.replicas for r in reservations) == 12
    placed_ids = {p.reservation_id for w in workloads for p in w.placement.clusters}
    assert placed_ids == {r.id for r in reservations}
    ledger = Ledger(reservations)
    for cluster in ("c1", "c3"):
        assert ledger.reserved(cluster).cpu_millis <= NODES * NODE_CPU, f"{cluster} over-committed"


async def no_parts_left_on(store: EtcdStore, keys: Keys, cluster: str) -> None:
    """Follow the workload records in etcd until none of them names `cluster`."""
    records: dict[str, types_pb2.Workload] = {}
    async with contextlib.aclosing(store.watch_prefix(keys.workloads_prefix())) as batches:
        async for batch in batches:
            if batch.resynced:
                records = {kv.key: types_pb2.Workload.FromString(kv.value) for kv in batch.snapshot}
            for event in batch.events:
                if event.type is EventType.DELETE:
                    records.pop(event.kv.key, None)
                else:
                    records[event.kv.key] = types_pb2.Workload.FromString(event.kv.value)
            named = {p.cluster for w in records.values() for p in w.placement.clusters}
            if cluster not in named:
                return
