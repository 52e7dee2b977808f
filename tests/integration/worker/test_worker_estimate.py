"""Estimate equals a brute-force node-by-node count on random clusters and shapes, and two
workers serving one cluster give the same answers."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from integration.worker.conftest import fleet_config
from integration.worker.worker_support import WorkerThread, wait_for, worker_settings, write_records
from unit.worker.worker_reference import brute_force

from common.etcd_launcher import EmbeddedEtcd
from common.keys import Keys
from fed.v1 import types_pb2, worker_pb2
from tools.kubesim import SimThread
from tools.kubesim.cluster import ClusterSim
from tools.kubesim.nodes import node_ready
from tools.kubesim.resources import NODES, PODS
from tools.kubesim.units import memory_bytes, milli_cpu, pod_requests
from worker.model import Node, Pod, Res, Taint, Toleration

pytestmark = pytest.mark.integration
GI = 1024**3


def randomise(cluster: ClusterSim, seed: int) -> None:
    """Vary node sizes, labels, taints, readiness and cordons; add foreign pods."""
    rng = random.Random(seed)
    table = cluster.store.table(NODES.plural)
    for name in table.sorted_keys():
        entry = table.entries[name]
        obj = entry.obj
        labels = {**obj["metadata"]["labels"], "disk": rng.choice(["ssd", "hdd"])}
        spec = dict(obj.get("spec") or {})
        if rng.random() < 0.3:
            spec["taints"] = [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]
        spec["unschedulable"] = rng.random() < 0.15
        alloc = {
            "cpu": str(rng.choice([4, 8, 16])),
            "memory": f"{rng.choice([8, 16, 32])}Gi",
            "pods": str(rng.choice([10, 30, 110])),
        }
        status = {**obj["status"], "allocatable": alloc}
        new = {**obj, "metadata": {**obj["metadata"], "labels": labels}, "spec": spec}
        cluster.registry.write(NODES, entry, {**new, "status": status})
    for i in range(rng.randint(10, 30)):
        cpu = rng.choice(["100m", "250m", "500m", "1", "2"])
        memory = rng.choice(["128Mi", "512Mi", "1Gi", "3Gi"])
        body: dict[str, Any] = {
            "metadata": {"name": f"foreign-{i}"},
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "x",
                        "resources": {"requests": {"cpu": cpu, "memory": memory}},
                    }
                ],
                "tolerations": [{"operator": "Exists"}],
            },
        }
        cluster.registry.create(PODS, "default", body)
    cluster.set_notready(0.2)


def truth(cluster: ClusterSim) -> tuple[list[Node], list[Pod]]:
    """kubesim's objects as reference data (parsed here, not by the worker's adapter)."""
    nodes = []
    for entry in cluster.store.table(NODES.plural).entries.values():
        obj, alloc = entry.obj, entry.obj["status"]["allocatable"]
        spec = obj.get("spec") or {}
        taints = tuple(
            Taint(t["key"], t.get("value", ""), t["effect"]) for t in spec.get("taints") or ()
        )
        size = Res(milli_cpu(alloc["cpu"]), memory_bytes(alloc["memory"]), 0, int(alloc["pods"]))
        nodes.append(
            Node(
                entry.meta["name"],
                node_ready(obj),
                bool(spec.get("unschedulable")),
                entry.labels,
                taints,
                size,
            )
        )
    pods = []
    for key, entry in cluster.store.table(PODS.plural).entries.items():
        cpu, memory = pod_requests(entry.obj["spec"])
        node = entry.obj["spec"].get("nodeName") or ""
        phase = (entry.obj.get("status") or {}).get("phase", "Pending")
        pods.append(Pod(key, node, phase, Res(cpu, memory, 0, 1), "", "", False))
    return nodes, pods


def settled(cluster: ClusterSim) -> bool:
    return all(
        (e.obj.get("status") or {}).get("phase") == "Running" or not e.obj["spec"].get("nodeName")
        for e in cluster.store.table(PODS.plural).entries.values()
    )


@pytest.fixture
def two_workers(
    etcd: EmbeddedEtcd, keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SimThread, list[WorkerThread]]]:
    with SimThread(fleet_config(nodes=12), tmp_path_factory.mktemp("kubesim")) as fleet:
        cluster = fleet.clusters["c1"]
        fleet.run(randomise, cluster, 7)
        wait_for(lambda: fleet.run(settled, cluster), what="kubesim settled")
        write_records(etcd.endpoint, keys, fleet, {"w1": (["c1"], ["c1"]), "w2": (["c1"], [])})
        with (
            WorkerThread(worker_settings(etcd.endpoint, keys, "w1")) as w1,
            WorkerThread(worker_settings(etcd.endpoint, keys, "w2")) as w2,
        ):
            want = fleet.run(truth, cluster)

            def caught_up() -> bool:
                runtimes = [w.synced("c1") for w in (w1, w2)]
                return all(
                    r is not None and set(r.cache.pods) == {p.key for p in want[1]}
                    for r in runtimes
                )

            wait_for(caught_up, what="both caches hold kubesim's pods")
            yield fleet, [w1, w2]


SHAPES = st.builds(
    Res,
    st.sampled_from([0, 100, 500, 1000, 1500, 4000]),
    st.sampled_from([0, 256 * 2**20, GI, 3 * GI, 10 * GI]),
    st.just(0),
    st.just(0),
)
TOLERATIONS = st.lists(
    st.builds(
        Toleration,
        st.sampled_from(["dedicated", "other", ""]),
        st.sampled_from(["Equal", "Exists"]),
        st.sampled_from(["batch", ""]),
        st.sampled_from(["", "NoSchedule"]),
    ),
    max_size=1,
).map(tuple)


def _request(
    per: Res,
    selector: dict[str, str],
    tolerations: tuple[Toleration, ...],
    assumed: list[tuple[Res, int]],
    limit: int,
) -> worker_pb2.EstimateRequest:
    def resources(r: Res) -> types_pb2.Resources:
        return types_pb2.Resources(cpu_millis=r.cpu, memory_bytes=r.memory)

    return worker_pb2.EstimateRequest(
        cluster="c1",
        per_replica=resources(per),
        node_selector=selector,
        tolerations=[
            types_pb2.Toleration(key=t.key, operator=t.operator, value=t.value, effect=t.effect)
            for t in tolerations
        ],
        assumed=[
            worker_pb2.AssumedReservation(
                reservation_id=f"r{i}", per_replica=resources(r), replicas=n
            )
            for i, (r, n) in enumerate(assumed)
        ],
        limit=limit,
    )


def test_estimates_match_brute_force_and_agree_across_workers(
    two_workers: tuple[SimThread, list[WorkerThread]],
) -> None:
    fleet, workers = two_workers
    nodes, pods = fleet.run(truth, fleet.clusters["c1"])

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        per=SHAPES,
        selector=st.dictionaries(st.sampled_from(["disk"]), st.sampled_from(["ssd", "hdd"])),
        tolerations=TOLERATIONS,
        assumed=st.lists(st.tuples(SHAPES, st.integers(0, 20)), max_size=2),
        limit=st.sampled_from([0, 0, 7]),
    )
    def check(
        per: Res,
        selector: dict[str, str],
        tolerations: tuple[Toleration, ...],
        assumed: list[tuple[Res, int]],
        limit: int,
    ) -> None:
        request = _request(per, selector, tolerations, assumed, limit)
        replies = [w.stub.Estimate(request, timeout=5) for w in workers]
        want = brute_force(nodes, pods, per, selector, tolerations, assumed, limit)
        assert [(r.max_replicas, r.nodes_considered) for r in replies] == [want, want]
        assert {r.worker_id for r in replies} == {"w1", "w2"}

    check()
