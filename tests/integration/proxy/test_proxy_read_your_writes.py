"""A follower answers a forwarded write only once its own cache holds it: the client's next
read on that replica sees what it wrote, however late the follower's etcd watch is."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from proxy_support import ProxyProcess, leader_of, register_all, scrape, stub, workload
from tcp_proxy import forwarding_to

from common.etcd_launcher import EmbeddedEtcd
from common.etcd_store import EtcdStore
from common.keys import Keys
from fed.v1 import federation_pb2
from tools.kubesim import KubeSim, SimConfig

pytestmark = pytest.mark.integration


@pytest.fixture
async def clusters(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """Three kubesim clusters: name -> kubeconfig document."""
    async with KubeSim(SimConfig(clusters=3, nodes=1, controllers=False)) as sim:
        sim.write_files(tmp_path)
        yield {name: (tmp_path / f"{name}.kubeconfig").read_text() for name in sim.clusters}


async def holding_back(
    store: EtcdStore, keys: Keys, follower: ProxyProcess, call: asyncio.Future[object]
) -> None:
    """Until the follower holds the leader's answer, waiting for its cache, or answered
    (polled: another process's state, seen only through its metrics)."""
    while not call.done():
        if "fed_proxy_catching_up 1.0" in await scrape(store, keys, follower):
            return
        await asyncio.sleep(0.02)


async def test_a_forwarded_write_is_answered_once_the_follower_can_read_it(
    etcd: EmbeddedEtcd, keys: Keys, store: EtcdStore, clusters: dict[str, str], heartbeats: None
) -> None:
    leader = ProxyProcess(etcd.endpoint, keys, "p1")
    try:
        await leader_of([leader])
        await register_all(stub(leader.address), clusters)
        async with forwarding_to(etcd.client_port) as hop:
            # started off the event loop, which serves the hop it starts through
            follower = await asyncio.to_thread(ProxyProcess, hop.endpoint, keys, "p2")
            try:
                api = stub(follower.address)
                request = federation_pb2.PlaceWorkloadRequest(
                    request_id="ryw-1", spec=workload("ryw", 2)
                )
                committed = store.watch_prefix(
                    keys.request("ryw-1"), start_revision=await store.revision()
                )
                async with contextlib.aclosing(committed):
                    hop.hold_replies()  # the follower's watch sees nothing new from here
                    call = asyncio.ensure_future(api.PlaceWorkload(request))
                    await asyncio.wait_for(anext(committed), timeout=10)
                # The leader has committed and answered; the follower's cache cannot hold the
                # write yet, so the follower must hold the answer back.
                await asyncio.wait_for(holding_back(store, keys, follower, call), timeout=10)
                assert not call.done(), "answered before the follower could read the write"
                hop.release()
                placed = await asyncio.wait_for(call, timeout=10)
                read = await api.GetWorkload(
                    federation_pb2.GetWorkloadRequest(namespace="team-a", name="ryw")
                )
                hop.release()
                assert read == placed.workload
            finally:
                hop.release()
                follower.stop()
    finally:
        leader.stop()
