"""Named policies from the proxy's settings file, reloaded on SIGHUP; the leader's last scores.

Two real fed-proxy processes on a real etcd, started with one settings file; clusters served
by kubesim, their status heartbeated by the test (as in the other proxy tests).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from proxy_support import ProxyProcess, leader_of, register_all, stub, workload

from common.etcd_launcher import EmbeddedEtcd
from common.keys import Keys
from fed.v1 import federation_pb2, types_pb2
from tools.kubesim import KubeSim, SimConfig

pytestmark = pytest.mark.integration
LEAN = {"scores": {"health": {"weight": 5}}}
BULK = {"scores": {"free_capacity": {"weight": 7}, "balanced": {"weight": 1}}}


@pytest.fixture
async def clusters(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    async with KubeSim(SimConfig(clusters=3, nodes=1, controllers=False)) as sim:
        sim.write_files(tmp_path)
        yield {name: (tmp_path / f"{name}.kubeconfig").read_text() for name in sim.clusters}


def place(name: str, replicas: int, policy: str) -> federation_pb2.PlaceWorkloadRequest:
    spec = workload(name, replicas)
    spec.policy.name = policy
    return federation_pb2.PlaceWorkloadRequest(request_id=f"place-{name}", spec=spec)


def scored(info: federation_pb2.ClusterInfo) -> list[tuple[str, float]]:
    return [(score.plugin, score.weight) for score in info.last_scores]


async def reload(proxies: list[ProxyProcess], event: str) -> list[dict[str, Any]]:
    """SIGHUP every proxy and await each one's report of the reload."""
    for proxy in proxies:
        proxy.process.send_signal(signal.SIGHUP)
    return [(await asyncio.to_thread(proxy.expect, event, 10))[0] for proxy in proxies]


async def test_named_policies_come_from_the_settings_file_and_reload_on_sighup(
    etcd: EmbeddedEtcd, keys: Keys, tmp_path: Path, clusters: dict[str, str], heartbeats: None
) -> None:
    config = tmp_path / "proxy.yaml"
    config.write_text(yaml.safe_dump({"policies": {"lean": LEAN}}, sort_keys=False))
    proxies = [ProxyProcess(etcd.endpoint, keys, name, config=config) for name in ("p1", "p2")]
    try:
        leader, (follower,) = await leader_of(proxies)
        await register_all(stub(leader.address), clusters)
        api, on_leader = stub(follower.address), stub(leader.address)

        placed = await api.PlaceWorkload(place("web", 3, "lean"))  # forwarded to the leader
        assert sum(p.replicas for p in placed.workload.placement.clusters) == 3
        assert placed.workload.spec.policy.name == "lean"
        infos = (await on_leader.ListClusters(federation_pb2.ListClustersRequest())).clusters
        assert {info.spec.name: scored(info) for info in infos} == {
            name: [("health", 5.0)] for name in clusters
        }, "the leader shows the scores of the lean policy, which has one score plugin"
        for score in infos[0].last_scores:
            assert 0 <= score.score <= 100 and score.reason
        follower_view = await api.GetCluster(federation_pb2.GetClusterRequest(name="c1"))
        assert not follower_view.last_scores, "a follower has no scores of its own"

        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await api.PlaceWorkload(place("batch", 2, "bulk"))
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "spec.policy.name" in (raised.value.details() or "")
        assert "bulk" in (raised.value.details() or "")

        config.write_text(
            yaml.safe_dump({"policies": {"lean": LEAN, "bulk": BULK}}, sort_keys=False)
        )
        for report in await reload(proxies, "reloaded"):
            assert report["policies"] == ["bulk", "default", "lean"]
        placed = await api.PlaceWorkload(place("batch", 2, "bulk"))
        assert sum(p.replicas for p in placed.workload.placement.clusters) == 2
        chosen = placed.workload.placement.clusters[0].cluster
        info = await on_leader.GetCluster(federation_pb2.GetClusterRequest(name=chosen))
        assert scored(info) == [("free_capacity", 7.0), ("balanced", 1.0)]
        explained = await api.ExplainPlacement(
            federation_pb2.ExplainPlacementRequest(spec=place("more", 1, "bulk").spec)
        )
        assert {s.plugin for c in explained.clusters for s in c.scores} == {
            "free_capacity",
            "balanced",
        }, "the follower reloaded too"

        config.write_text(
            yaml.safe_dump({"policies": {"bulk": {"scores": {"health": {"weight": -1}}}}})
        )
        for report in await reload(proxies, "reload-failed"):
            assert "policies[bulk].scores[health].weight" in report["error"]
        kept = await api.PlaceWorkload(place("kept", 1, "lean"))
        assert kept.workload.phase == types_pb2.WORKLOAD_PHASE_RESERVED, "old policies stay"
    finally:
        for proxy in proxies:
            proxy.stop()
