"""The published ClusterStatus matches kubesim's own truth within about one period."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from integration.worker.worker_support import (
    WorkerThread,
    read_status,
    wait_for,
    worker_settings,
    write_records,
)

from common.etcd_launcher import EmbeddedEtcd
from common.keys import Keys
from fed.v1 import types_pb2, worker_pb2
from tools.kubesim import SimThread
from tools.kubesim.cluster import ClusterSim
from tools.kubesim.nodes import node_ready
from tools.kubesim.resources import PODS
from tools.kubesim.units import pod_requests
from tools.kubesim.usage import Profile

pytestmark = pytest.mark.integration
FROZEN = 1_000_000.0
WATERMARK = 0.8
WITHIN_S = 3.0  # status period 0.5 s + usage period 0.3 s + kubelet and scheduling delays


@dataclass(frozen=True)
class Truth:
    nodes_total: int
    nodes_ready: int
    allocatable_cpu: int
    foreign_cpu: int
    federated_cpu: int
    hot_nodes: int
    reservation_pods: dict[str, int]


def truth(cluster: ClusterSim) -> Truth:
    nodes = cluster.scheduler.nodes
    ready = [n for n in nodes.values() if n.schedulable]
    foreign = federated = 0
    reservations: dict[str, int] = {}
    for entry in cluster.store.table(PODS.plural).entries.values():
        pod = entry.obj
        phase = (pod.get("status") or {}).get("phase")
        labels = entry.labels
        if phase in ("Succeeded", "Failed"):
            continue
        if "fed.io/reservation" in labels:
            rid = labels["fed.io/reservation"]
            reservations[rid] = reservations.get(rid, 0) + 1
        if not pod["spec"].get("nodeName"):
            continue
        cpu, _ = pod_requests(pod["spec"])
        if "fed.io/workload" in labels:
            federated += cpu
        else:
            foreign += cpu
    hot = 0
    for name, state in nodes.items():
        node = cluster.store.get("nodes", name)
        if node is None or not node_ready(node.obj):
            continue
        cpu, memory = cluster.usage.node_usage(name, FROZEN)
        if cpu > WATERMARK * state.cpu or memory > WATERMARK * state.memory:
            hot += 1
    return Truth(
        len(nodes),
        len(ready),
        sum(n.cpu for n in ready),
        foreign,
        federated,
        hot,
        reservations,
    )


def published(status: types_pb2.ClusterStatus) -> Truth:
    return Truth(
        status.nodes_total,
        status.nodes_ready,
        status.allocatable.cpu_millis,
        status.foreign_requested.cpu_millis,
        status.federated_requested.cpu_millis,
        status.hot_nodes,
        dict(status.reservation_pods),
    )


def hot_app(seed: int) -> str:
    """An app label whose simulated usage runs well above its requests."""
    return next(
        f"hot{i}"
        for i in range(10_000)
        if Profile.of(f"default/app/hot{i}", seed).fractions(FROZEN)[0] > 1.0
    )


def create_pod(cluster: ClusterSim, name: str, cpu: str, labels: dict[str, str]) -> None:
    body: dict[str, Any] = {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu}}}]
        },
    }
    cluster.registry.create(PODS, "default", body)


def converges(
    endpoint: str, keys: Keys, fleet: SimThread, expect: Callable[[Truth], bool] = bool
) -> Truth:
    """Wait until kubesim reaches the expected state and the status says exactly that."""

    def check() -> Truth | None:
        status = read_status(endpoint, keys, "c1")
        want = fleet.run(truth, fleet.clusters["c1"])
        ok = status is not None and expect(want) and published(status) == want
        return want if ok else None

    return wait_for(check, timeout=WITHIN_S, what="published status equals kubesim's truth")


def test_status_matches_the_emulator(etcd: EmbeddedEtcd, keys: Keys, fleet: SimThread) -> None:
    cluster = fleet.clusters["c1"]
    cluster.usage.clock = lambda: FROZEN
    write_records(etcd.endpoint, keys, fleet, {"w1": (["c1"], ["c1"])})
    settings = worker_settings(etcd.endpoint, keys, "w1", f"worker.hot_watermark={WATERMARK}")
    with WorkerThread(settings) as worker:
        converges(etcd.endpoint, keys, fleet)
        app = hot_app(fleet.sim.config.seed)
        fleet.run(create_pod, cluster, "hot", "7", {"app": app})
        fleet.run(create_pod, cluster, "plain", "1500m", {})
        worker.stub.Apply(
            worker_pb2.ApplyRequest(
                cluster="c1",
                namespace="default",
                name="fed",
                reservation_id="r-9",
                epoch=1,
                replicas=2,
                per_replica=types_pb2.Resources(cpu_millis=500, memory_bytes=2**28),
            ),
            timeout=10,
        )
        seen = converges(etcd.endpoint, keys, fleet, lambda t: t.hot_nodes == 1)
        assert (seen.foreign_cpu, seen.federated_cpu) == (8500, 1000)
        assert seen.reservation_pods == {"r-9": 2}
        fleet.fault("c1", "nodes-notready", "25%")
        converges(etcd.endpoint, keys, fleet, lambda t: t.nodes_ready == 3)
        status = read_status(etcd.endpoint, keys, "c1")
        assert status is not None and status.worker_id == "w1" and status.reachable
        assert sum(g.count for g in status.node_grades) == 3
        assert status.usage.cpu_millis > 0 and status.usage_peak.cpu_millis > 0
        assert 0.0 <= status.fragmentation_index <= 1.0
