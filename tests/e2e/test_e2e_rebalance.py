"""Rescheduling moves replicas off a hot cluster, create before delete.

Foreign pods, labelled so that kubesim's usage model runs them hot, fill c1's nodes; the
rescheduler must move the federation's replicas off c1 while every workload keeps at least
its wanted number of Running pods throughout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import kubernetes
import pytest

from client import FederationClient
from fed.v1 import federation_pb2, types_pb2
from tools.devstack.stack import Stack, StackConfig, StackInfo, down
from tools.kubesim.usage import Profile

pytestmark = pytest.mark.integration
READY = types_pb2.WORKLOAD_PHASE_READY


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    config = StackConfig(
        dir=tmp_path_factory.mktemp("rebalance"), clusters=3, nodes=3, node_cpu="8",
        node_memory="32Gi", proxies=3, workers=2, attached=True,
        settings=["observability.log_level=WARNING"],
        proxy_settings=["proxy.bind_period_s=0.3", "rebalance.auto=true",
                        "rebalance.period_s=1", "rebalance.hot_node_ratio=0.5"],
        worker_settings=["worker.status_period_s=0.5", "worker.hot_watermark=0.6",
                         "worker.usage_period_s=0.5"],
    )  # fmt: skip
    info = Stack(config).up()
    yield info
    down(Path(info.dir))


def hot_name() -> str:
    """An app label whose (unowned) pods kubesim runs at 90 % or more of their cpu requests."""
    for index in count():
        name = f"hog-{index}"
        profile = Profile.of(f"default/app/{name}", 0)
        if profile.cpu_base - profile.cpu_swing > 0.9:
            return name
    raise AssertionError("unreachable")


def core(stack: StackInfo, cluster: str) -> kubernetes.client.CoreV1Api:
    kubeconfig = next(c for c in stack.clusters if c["name"] == cluster)["kubeconfig"]
    return kubernetes.client.CoreV1Api(kubernetes.config.new_client_from_config(kubeconfig))


def running_pods(stack: StackInfo) -> dict[str, int]:
    """Running federated pods per workload label, over every cluster."""
    found: dict[str, int] = {}
    for cluster in stack.clusters:
        api_client = kubernetes.config.new_client_from_config(cluster["kubeconfig"])
        pods = kubernetes.client.CoreV1Api(api_client).list_namespaced_pod(
            "apps", label_selector="fed.io/workload"
        )
        for pod in pods.items:
            if pod.status.phase == "Running":
                label = pod.metadata.labels["fed.io/workload"]
                found[label] = found.get(label, 0) + 1
        api_client.close()
    return found


def hog_pod(app: str, index: int) -> dict[str, object]:
    """A foreign pod (not the federation's) that fills most of a node and runs hot."""
    container = {"name": "hog", "image": "busybox",
                 "resources": {"requests": {"cpu": "6500m", "memory": "1Gi"}}}  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{app}-{index}", "labels": {"app": app}},
        "spec": {"containers": [container]},
    }


async def test_replicas_leave_a_hot_cluster_without_losing_ready_ones(stack: StackInfo) -> None:
    async with FederationClient(stack.proxy_addresses) as fed:
        names = [f"web-{i}" for i in range(6)]
        for name in names:
            spec = types_pb2.WorkloadSpec(
                namespace="apps", name=name, replicas=1,
                resources=types_pb2.Resources(cpu_millis=1000, memory_bytes=256 << 20),
            )  # fmt: skip
            await fed.place(spec)
        deadline = time.monotonic() + 60
        while not all(w.phase == READY for w in await fed.list_workloads("apps")):
            assert time.monotonic() < deadline, "workloads did not become Ready"
            await asyncio.sleep(0.2)
        on_c1 = [w.spec.name for w in await fed.list_workloads("apps", cluster="c1")]
        assert on_c1, "the spread put nothing on c1; the test needs some there"

        c1, app = core(stack, "c1"), hot_name()
        for index in range(3):
            await asyncio.to_thread(c1.create_namespaced_pod, "default", hog_pod(app, index))
        lowest: dict[str, int] = {}
        deadline = time.monotonic() + 90
        while True:
            running = await asyncio.to_thread(running_pods, stack)
            for label, pods in running.items():
                lowest[label] = min(lowest.get(label, pods), pods)
            workloads = await fed.list_workloads("apps")
            if all(w.phase == READY for w in workloads) and not await fed.list_workloads(
                "apps", cluster="c1"
            ):
                break
            assert time.monotonic() < deadline, "replicas did not leave the hot cluster"
            await asyncio.sleep(0.2)

        assert min(lowest.values()) >= 1, f"a workload lost its ready replica: {lowest}"
        operations = await fed.call("ListOperations", federation_pb2.ListOperationsRequest())
        kinds = {op.kind for op in operations.operations}
        assert types_pb2.OPERATION_KIND_REBALANCE in kinds
