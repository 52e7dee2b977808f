"""A follower's ForwardWrites batch does not wait out the leader's batching window: the
follower gathered it already, and both waits in series doubled the latency of every write
sent to a follower."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from proxy_support import ProxyProcess, leader_of, register_all, stub, workload

from common.etcd_launcher import EmbeddedEtcd
from common.keys import Keys
from fed.v1 import federation_pb2
from tools.kubesim import KubeSim, SimConfig

pytestmark = pytest.mark.integration
WINDOW_S = 600
"""The leader's batching window: a write that waited it out would outlive the test."""


@pytest.fixture
def leader_and_follower(etcd: EmbeddedEtcd, keys: Keys) -> Iterator[list[ProxyProcess]]:
    settings = {"proxy.batch_window_ms": WINDOW_S * 1000}
    started = [ProxyProcess(etcd.endpoint, keys, "p1", overrides=settings)]
    try:
        started.append(ProxyProcess(etcd.endpoint, keys, "p2", overrides=settings))
        yield started
    finally:
        for proxy in started:
            proxy.stop()


async def test_writes_forwarded_in_a_batch_skip_the_leaders_window(
    leader_and_follower: list[ProxyProcess], tmp_path: Path, heartbeats: None
) -> None:
    leader, (follower,) = await leader_of(leader_and_follower)
    async with KubeSim(SimConfig(clusters=3, nodes=1, controllers=False)) as sim:
        sim.write_files(tmp_path)
        kubeconfigs = {n: (tmp_path / f"{n}.kubeconfig").read_text() for n in sim.clusters}
        await register_all(stub(leader.address), kubeconfigs)
    api = stub(follower.address)
    requests = [
        federation_pb2.PlaceWorkloadRequest(
            request_id=f"fw-{index}", spec=workload(f"fw-{index}", 1)
        )
        for index in range(5)
    ]
    answers = await asyncio.wait_for(
        asyncio.gather(*(api.PlaceWorkload(request) for request in requests)), timeout=30
    )
    assert [answer.workload.spec.name for answer in answers] == [f"fw-{i}" for i in range(5)]
