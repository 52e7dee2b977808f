"""Failover on a whole stack with kubesim fault injection, real etcd, workers and 3 proxies.

The tests run in file order on one stack: flapping first (nothing may move), then a pinned
workload that fits nowhere else, then a cluster loss with 200 workloads (RTO printed),
then a region drill whose leader is SIGKILLed half way.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from client import FederationClient
from fed.v1 import federation_pb2, types_pb2
from tools.devstack.stack import Stack, StackConfig, StackInfo, down
from tools.kubesim.control import set_fault

pytestmark = pytest.mark.integration
Phase = types_pb2.WorkloadPhase
OpPhase = types_pb2.OperationPhase


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    config = StackConfig(
        dir=tmp_path_factory.mktemp("failover"),
        clusters=3,
        nodes=6,
        proxies=3,
        workers=2,
        attached=True,
        settings=["election.ttl_s=2", "election.safety_margin_s=0.5",
                  "observability.log_level=WARNING"],
        proxy_settings=["proxy.bind_period_s=0.3", "failover.auto=true",
                        "failover.suspect_after_s=2", "failover.fail_after_s=5",
                        "failover.stabilise_s=3", "failover.health_period_s=0.2",
                        "failover.max_parallel_moves=500", "failover.retry_degraded_s=0.5",
                        "failover.shortfall_settle_s=2"],
        worker_settings=["worker.status_period_s=0.5", "retry.max_backoff_s=0.5"],
    )  # fmt: skip
    info = Stack(config).up()
    yield info
    down(Path(info.dir))


def fault(stack: StackInfo, cluster: str, name: str) -> None:
    set_fault(Path(stack.dir) / "kubesim", cluster, name)


def spec(name: str, replicas: int, **policy: Any) -> types_pb2.WorkloadSpec:
    return types_pb2.WorkloadSpec(
        namespace="apps",
        name=name,
        replicas=replicas,
        resources=types_pb2.Resources(cpu_millis=100, memory_bytes=64 << 20),
        policy=types_pb2.PlacementPolicy(**policy),
    )


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout_s: float = 60) -> Any:
    """Poll across processes (there is no event to await) with a deadline."""
    deadline = time.monotonic() + timeout_s
    while not (value := await check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)
    return value


def deployments(stack: StackInfo, cluster: str) -> dict[str, int]:
    info = next(c for c in stack.clusters if c["name"] == cluster)
    api_client = kubernetes.config.new_client_from_config(config_file=info["kubeconfig"])
    try:
        items = kubernetes.client.AppsV1Api(api_client).list_namespaced_deployment("apps").items
        return {item.metadata.name: item.spec.replicas for item in items}
    finally:
        api_client.close()


def replicas_in_clusters(stack: StackInfo) -> dict[str, int]:
    total: dict[str, int] = {}
    for cluster in ("c1", "c2", "c3"):
        for name, replicas in deployments(stack, cluster).items():
            total[name] = total.get(name, 0) + replicas
    return total


def on(workload: types_pb2.Workload, cluster: str) -> int:
    return sum(p.replicas for p in workload.placement.clusters if p.cluster == cluster)


async def all_ready(fed: FederationClient, names: set[str]) -> bool:
    workloads = {w.spec.name: w for w in await fed.list_workloads("apps")}
    return all(workloads[n].phase == Phase.WORKLOAD_PHASE_READY for n in names)


async def test_a_flapping_cluster_causes_no_migration(stack: StackInfo) -> None:
    async with FederationClient(stack.proxy_addresses) as fed:
        await fed.place(spec("flap-web", 6, min_clusters=3))
        await until(lambda: all_ready(fed, {"flap-web"}), "flap-web Ready")
        before = (await fed.get_workload("apps", "flap-web")).placement
        for _ in range(4):
            fault(stack, "c3", "down")
            await asyncio.sleep(2.0)  # the flapping itself: down and up on a fixed rhythm
            fault(stack, "c3", "up")
            await asyncio.sleep(3.0)
        operations = await fed.call("ListOperations", federation_pb2.ListOperationsRequest())
        assert [op.id for op in operations.operations] == []
        after = (await fed.get_workload("apps", "flap-web")).placement
        assert [(p.cluster, p.replicas) for p in after.clusters] == [
            (p.cluster, p.replicas) for p in before.clusters
        ]
        info = await fed.get_cluster("c3")
        assert info.health.health != types_pb2.CLUSTER_HEALTH_FAILED


async def test_when_nothing_fits_nothing_is_deleted(stack: StackInfo) -> None:
    async with FederationClient(stack.proxy_addresses) as fed:
        await until(lambda: _ready(fed, "c3"), "c3 Ready again after flapping")
        await fed.place(spec("pinned", 3, regions=["r2"]))
        await until(lambda: all_ready(fed, {"pinned"}), "pinned Ready")
        fault(stack, "c2", "down")

        async def degraded() -> types_pb2.Workload | None:
            workload = await fed.get_workload("apps", "pinned")
            return workload if workload.phase == Phase.WORKLOAD_PHASE_DEGRADED else None

        workload = await until(degraded, "pinned to be Degraded")
        assert on(workload, "c2") == 3, "nothing fits elsewhere, so nothing moved or went"
        assert "r2" in workload.message or "region" in workload.message, workload.message
        fault(stack, "c2", "up")
        assert deployments(stack, "c2")["pinned"] == 3
        await until(lambda: _ready(fed, "c2"), "c2 Ready again")


async def test_a_lost_cluster_has_every_replica_ready_elsewhere(stack: StackInfo) -> None:
    names = {f"svc-{i:03d}" for i in range(200)}
    async with FederationClient(stack.proxy_addresses) as fed:
        await asyncio.gather(*(fed.place(spec(n, 2)) for n in sorted(names)))
        await until(lambda: all_ready(fed, names), "200 workloads Ready", timeout_s=120)
        held = {w.spec.name: on(w, "c1") for w in await fed.list_workloads("apps")}
        assert sum(held[n] for n in names) > 0
        killed = time.monotonic()
        fault(stack, "c1", "down")

        async def moved() -> bool:
            workloads = [w for w in await fed.list_workloads("apps") if w.spec.name in names]
            return all(
                on(w, "c1") == 0 and w.phase == Phase.WORKLOAD_PHASE_READY for w in workloads
            )

        await until(moved, "every replica Ready off c1", timeout_s=120)
        rto = time.monotonic() - killed
        print(f"\nRTO for 200 workloads after c1 went down: {rto:.1f} s")
        for workload in await fed.list_workloads("apps"):
            if workload.spec.name in names:
                assert sum(p.replicas for p in workload.placement.clusters) == 2
        fault(stack, "c1", "up")


async def test_leader_sigkill_mid_drill_finishes_with_exactly_the_wanted_replicas(
    stack: StackInfo,
) -> None:
    async with FederationClient(stack.proxy_addresses) as fed:
        await until(lambda: _ready(fed, "c1"), "c1 Ready again")
        request = federation_pb2.StartFailoverRequest(
            request_id="drill-r3", region="r3", drill=True,
            action=federation_pb2.FAILOVER_ACTION_EXECUTE,
            mode=types_pb2.FAILOVER_MODE_GRACEFUL,
        )  # fmt: skip
        operation = await fed.call("StartFailover", request)
        assert operation.phase == OpPhase.OPERATION_PHASE_RUNNING
        topology = await fed.topology()
        leader = next(p for p in stack.proxies if p.address == topology.leader.member.address)
        os.kill(leader.pid, signal.SIGKILL)

        async def finished() -> types_pb2.Operation | None:
            current = await fed.call(
                "GetOperation", federation_pb2.GetOperationRequest(id=operation.id)
            )
            return current if current.phase != OpPhase.OPERATION_PHASE_RUNNING else None

        try:
            done = await until(finished, "the drill to finish under the new leader", 90)
        except AssertionError as error:
            current = await fed.call(
                "GetOperation", federation_pb2.GetOperationRequest(id=operation.id)
            )
            stuck = [(s.workload, s.phase, s.to_cluster) for s in current.steps if s.phase != 6]
            workloads = {w.spec.name: w for w in await fed.list_workloads("apps")}
            detail = [(n, workloads[n.split("/")[1]].placement) for n, _, _ in stuck[:3]]
            raise AssertionError(f"{error}: stuck steps {stuck[:10]}; {detail}") from None
        assert done.phase == OpPhase.OPERATION_PHASE_PARTIAL
        assert [(s.workload, s.replicas) for s in done.shortfalls] == [("apps/flap-web", 2)]
        assert "min_clusters 3" in done.shortfalls[0].reasons[0]
        workloads = await fed.list_workloads("apps")
        for workload in workloads:
            name = workload.spec.name
            assert on(workload, "c3") == (2 if name == "flap-web" else 0), name
        wanted = {w.spec.name: w.spec.replicas for w in workloads}

        async def converged() -> bool:
            """Drained sources and orphans of the earlier outage are removed asynchronously."""
            found = await asyncio.to_thread(replicas_in_clusters, stack)
            differences.clear()
            differences.update(
                {n: (found.get(n), w) for n, w in wanted.items() if found.get(n) != w}
            )
            return not differences

        differences: dict[str, tuple[int | None, int]] = {}
        try:
            await until(converged, "the clusters to hold exactly the wanted replicas", 60)
        except AssertionError as error:
            raise AssertionError(f"{error}: (in clusters, wanted) {differences}") from None


async def _ready(fed: FederationClient, cluster: str) -> bool:
    info = await fed.get_cluster(cluster)
    return info.health.health == types_pb2.CLUSTER_HEALTH_READY
