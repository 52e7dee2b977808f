"""Place, scale and delete through the API; Deployments appear in the emulated clusters."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from client import FederationClient
from common.etcd_store import EtcdStore
from common.keys import Keys
from fed.v1 import federation_pb2, types_pb2
from tools.bench.binding import all_worker_calls, worker_metrics
from tools.devstack.stack import StackInfo

pytestmark = pytest.mark.integration
Phase = types_pb2.WorkloadPhase
OpPhase = types_pb2.OperationPhase


def deployment_replicas(stack: StackInfo, namespace: str, name: str) -> dict[str, int]:
    """Replicas of the workload's Deployment in every emulated cluster that has one."""
    found: dict[str, int] = {}
    for cluster in stack.clusters:
        api = kubernetes.client.AppsV1Api(
            kubernetes.config.new_client_from_config(config_file=cluster["kubeconfig"])
        )
        items = api.list_namespaced_deployment(namespace).items
        for item in items:
            if item.metadata.labels.get("fed.io/workload", "").endswith(name):
                found[cluster["name"]] = item.spec.replicas
        api.api_client.close()
    return found


async def until(check: Callable[[], Any], what: str, timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = (
            await asyncio.to_thread(check)
            if not asyncio.iscoroutinefunction(check)
            else await check()
        )
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def spec(name: str, replicas: int) -> types_pb2.WorkloadSpec:
    template = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}},
    }
    return types_pb2.WorkloadSpec(
        namespace="default",
        name=name,
        replicas=replicas,
        resources=types_pb2.Resources(cpu_millis=500, memory_bytes=256 << 20),
        template_json=json.dumps(template),
    )


async def test_place_scale_delete_end_to_end(stack: StackInfo) -> None:
    async with FederationClient(stack.proxy_addresses) as fed:
        placed = await fed.place(spec("web", 6))
        wanted = {p.cluster: p.replicas for p in placed.workload.placement.clusters}
        assert sum(wanted.values()) == 6

        await until(lambda: deployment_replicas(stack, "default", "web") == wanted, "Deployments")

        async def ready() -> bool:
            workload = await fed.get_workload("default", "web")
            return workload.phase == Phase.WORKLOAD_PHASE_READY

        await until(ready, "the workload to be Ready")

        scaled = await fed.scale("default", "web", 9)
        wanted = {p.cluster: p.replicas for p in scaled.workload.placement.clusters if p.replicas}
        assert sum(wanted.values()) == 9
        await until(lambda: deployment_replicas(stack, "default", "web") == wanted, "the scale")

        await fed.delete("default", "web")
        await until(lambda: deployment_replicas(stack, "default", "web") == {}, "removal")

        async def gone() -> bool:
            return not await fed.list_workloads("default")

        await until(gone, "the workload record to go")


def test_stack_files_describe_the_running_stack(stack: StackInfo) -> None:
    saved = json.loads((Path(stack.dir) / "stack.json").read_text())
    assert [p["address"] for p in saved["proxies"]] == stack.proxy_addresses
    assert len(saved["clusters"]) == 3


async def test_a_drain_that_cannot_move_everything_keeps_the_cluster_cordoned(
    stack: StackInfo,
) -> None:
    """Runs before the drain that removes c3: it leaves c3 as it found it."""
    pinned = spec("pinned", 1)
    pinned.policy.regions.append("r3")  # only c3 may hold it
    async with FederationClient(stack.proxy_addresses) as fed:
        await fed.place(pinned)

        async def ready() -> bool:
            workload = await fed.get_workload("default", "pinned")
            return workload.phase == Phase.WORKLOAD_PHASE_READY

        await until(ready, "the pinned workload Ready")
        response = await fed.remove_cluster("c3", drain=True, request_id="drain-c3-pinned")

        async def ended() -> types_pb2.Operation | None:
            operation = await fed.get_operation(response.operation_id)
            return None if operation.phase == OpPhase.OPERATION_PHASE_RUNNING else operation

        operation = await until(ended, "the drain to end", timeout_s=60)
        assert operation.phase == OpPhase.OPERATION_PHASE_PARTIAL
        info = await fed.get_cluster("c3")
        assert info.spec.state == types_pb2.ADMIN_STATE_CORDONED
        assert response.operation_id in info.spec.state_reason
        assert {
            p.cluster for p in (await fed.get_workload("default", "pinned")).placement.clusters
        } == {"c3"}
        await fed.delete("default", "pinned")

        async def gone() -> bool:
            return not await asyncio.to_thread(deployment_replicas, stack, "default", "pinned")

        await until(gone, "the pinned Deployment removed")
        await fed.uncordon("c3")


async def test_remove_with_drain_moves_everything_then_removes_the_cluster(
    stack: StackInfo,
) -> None:
    names = [f"api-{i}" for i in range(6)]
    async with FederationClient(stack.proxy_addresses) as fed:
        for name in names:
            preferring_c3 = spec(name, 1)
            preferring_c3.policy.preferred_regions.append("r3")  # a preference, not a filter
            await fed.place(preferring_c3)

        async def ready() -> bool:
            workloads = await fed.list_workloads("default")
            return all(w.phase == Phase.WORKLOAD_PHASE_READY for w in workloads)

        await until(ready, "the api workloads Ready")
        assert len(await fed.list_workloads("default", cluster="c3")) == len(names)
        response = await fed.remove_cluster("c3", drain=True, request_id="drain-c3")
        assert response.operation_id

        async def removed() -> bool:
            return "c3" not in {info.spec.name for info in await fed.list_clusters()}

        await until(removed, "c3 to be drained and removed", timeout_s=60)
        for workload in await fed.list_workloads("default"):
            assert sum(p.replicas for p in workload.placement.clusters) == 1
            assert {p.cluster for p in workload.placement.clusters} <= {"c1", "c2"}
        for name in names:
            assert "c3" not in deployment_replicas(stack, "default", name)


async def test_a_forced_remove_places_the_clusters_replicas_elsewhere(stack: StackInfo) -> None:
    """Runs after the drain removed c3: the api workloads are on c1 and c2."""
    keys = Keys("/fed")
    async with FederationClient(stack.proxy_addresses) as fed:
        on_c2 = {w.spec.name for w in await fed.list_workloads("default", cluster="c2")}
        assert on_c2, "the drain spread the api workloads over c1 and c2"
        await fed.remove_cluster("c2", force=True)

        async def replaced() -> bool:
            workloads = await fed.list_workloads("default")
            return all(
                {p.cluster for p in w.placement.clusters} == {"c1"}
                and w.phase == Phase.WORKLOAD_PHASE_READY
                for w in workloads
            )

        await until(replaced, "every api workload Ready on c1 alone")
        for name in on_c2:
            assert deployment_replicas(stack, "default", name)["c1"] == 1
            workload = await fed.get_workload("default", name)
            assert workload.message == "cluster c2 was removed: 1 replicas re-placed elsewhere"
    async with EtcdStore([stack.etcd_endpoint]) as store:
        assert (await store.range(keys.reservations_prefix("c2"))).kvs == []


async def test_workloads_placed_together_are_bound_through_few_worker_rpcs(
    stack: StackInfo,
) -> None:
    """The binder's applies and status checks share Batch RPCs; every one is still made."""
    names = [f"many-{index}" for index in range(40)]
    async with FederationClient(stack.proxy_addresses) as fed:
        topology = await fed.call("GetTopology", federation_pb2.GetTopologyRequest())
        metrics = worker_metrics(topology)
        before = await asyncio.to_thread(all_worker_calls, metrics)
        await asyncio.gather(*(fed.place(spec(name, 1)) for name in names))

        async def all_ready() -> bool:
            listed = await fed.list_workloads("default")
            ready = {w.spec.name for w in listed if w.phase == Phase.WORKLOAD_PHASE_READY}
            return ready.issuperset(names)

        await until(all_ready, "every workload to be Ready")
        after = await asyncio.to_thread(all_worker_calls, metrics)
        for name in names:
            await fed.delete("default", name)
    made = {method: after.get(method, 0) - before.get(method, 0) for method in after}
    assert made["Apply"] == len(names)
    items = made["Apply"] + made["GetWorkloadStatus"]
    assert made["GetWorkloadStatus"] >= len(names)
    assert made["Batch"] * 2 <= items, made
