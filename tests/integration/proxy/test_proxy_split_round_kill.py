"""SIGKILL of the leader between two fenced transactions of one round.

A round's writes go to etcd in several transactions when they exceed etcd.max_txn_ops; one
request's writes never span two. Here the leader's only way to etcd lets the round's first
transaction through and nothing after it, and the leader is killed: the requests of that
transaction are committed with their answers recorded but never given, the others are not
written at all. Clients retry with the same request_id on the other replicas: the first kind
must get the committed answer (no second placement), the others one placement each.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from proxy_support import (
    ProxyProcess,
    assert_placed_once,
    leader_of,
    place_with_retries,
    register_all,
    stub,
    workload,
)
from tcp_proxy import TcpProxy, forwarding_to

from common.etcd_launcher import EmbeddedEtcd
from common.etcd_store import EtcdStore, WatchBatch
from common.keys import Keys
from fed.v1 import federation_pb2, types_pb2
from tools.kubesim import KubeSim, SimConfig

pytestmark = pytest.mark.integration
ROUND = 6
"""Placements sent at once, into one round (a 300 ms window). Each writes 4 keys (a
reservation in each of 2 clusters, the record, the answer), and a transaction holds 10 ops
besides the leader's fence (etcd.max_txn_ops 11): the round takes 3 transactions of 2
placements, where cutting at 10 ops would leave the third placement half-made."""
MARK = "split-"
"""In the keys of the round's placements only."""


async def first_of_round(answered: AsyncIterator[WatchBatch]) -> None:
    """Until a commit records answers of the round's calls."""
    async for batch in answered:
        if any(MARK in event.kv.key for event in batch.events):
            return


@pytest.fixture
async def hop(etcd: EmbeddedEtcd) -> AsyncIterator[TcpProxy]:
    """The first proxy's only way to etcd."""
    async with forwarding_to(etcd.client_port) as forwarder:
        yield forwarder


@pytest.fixture
async def proxies(
    etcd: EmbeddedEtcd, hop: TcpProxy, keys: Keys
) -> AsyncIterator[list[ProxyProcess]]:
    """p1 leads, through the hop (started off the event loop, which the hop runs on); p2 and
    p3 reach etcd directly."""
    settings = {"etcd.max_txn_ops": 11, "proxy.batch_window_ms": 300}
    first = await asyncio.to_thread(
        ProxyProcess, hop.endpoint, keys, "p1", ttl_s=2, overrides=settings
    )
    started = [first]
    try:
        await leader_of(started)
        started += [ProxyProcess(etcd.endpoint, keys, name, ttl_s=2) for name in ("p2", "p3")]
        yield started
    finally:
        for proxy in started:
            proxy.stop()


async def test_leader_killed_between_two_transactions_of_a_round_loses_and_doubles_nothing(
    proxies: list[ProxyProcess],
    hop: TcpProxy,
    store: EtcdStore,
    keys: Keys,
    tmp_path: Path,
    heartbeats: None,
) -> None:
    leader, followers = proxies[0], proxies[1:]
    async with KubeSim(SimConfig(clusters=3, nodes=1, controllers=False)) as sim:
        sim.write_files(tmp_path)
        kubeconfigs = {n: (tmp_path / f"{n}.kubeconfig").read_text() for n in sim.clusters}
        await register_all(stub(leader.address), kubeconfigs)
    api = stub(leader.address)
    warm_request = federation_pb2.PlaceWorkloadRequest(
        request_id="warm", spec=workload("warm", 1, memory=64 << 20)
    )
    await api.PlaceWorkload(warm_request)

    requests = [
        federation_pb2.PlaceWorkloadRequest(
            request_id=f"{MARK}{index}", spec=workload(f"{MARK}{index}", 2, memory=64 << 20)
        )
        for index in range(ROUND)
    ]
    answered = store.watch_prefix(keys.requests_prefix(), start_revision=await store.revision())
    hop.drop_requests_after(MARK.encode())
    calls = [asyncio.ensure_future(api.PlaceWorkload(request)) for request in requests]
    await asyncio.wait_for(first_of_round(answered), timeout=10)
    leader.process.send_signal(signal.SIGKILL)
    assert leader.process.wait(timeout=10) == -signal.SIGKILL
    await answered.aclose()
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(outcome, grpc.aio.AioRpcError) for outcome in outcomes), (
        "no call is answered before the whole round has committed"
    )

    committed = {
        kv.key.removeprefix(keys.requests_prefix()): types_pb2.RequestRecord.FromString(kv.value)
        for kv in (await store.range(keys.request(MARK))).kvs
    }
    print(f"\n{len(committed)} of the round's {ROUND} placements were committed before the kill")
    assert 0 < len(committed) < ROUND, "the kill must fall between two transactions of a round"

    apis = [stub(p.address) for p in followers]
    acknowledged: dict[str, federation_pb2.PlaceWorkloadResponse] = {}
    for index, request in enumerate([warm_request, *requests]):
        answer = await place_with_retries(apis, request, index)
        assert answer is not None
        acknowledged[request.request_id] = answer
    for request_id, recorded in committed.items():
        assert acknowledged[request_id].SerializeToString() == recorded.response, (
            "a retry of a committed call gets the answer committed with it"
        )
    await assert_placed_once(apis, store, keys, acknowledged, kubeconfigs)
