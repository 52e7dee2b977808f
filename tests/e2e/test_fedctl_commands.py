"""Every fedctl command, as a user runs it (a subprocess), against one stack that
`fedctl dev up` started; answers are checked against the emulated clusters."""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
import kubernetes
import pytest
import yaml
from fedctl_support import Fedctl, eventually
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from tools.devstack.stack import StackError, StackInfo, alive, down

pytestmark = pytest.mark.integration
T = TypeVar("T")

FAST = [
    "--set", "election.ttl_s=2", "--set", "election.safety_margin_s=0.5",
    "--set", "observability.log_level=WARNING",
    "--proxy-set", "proxy.bind_period_s=0.3", "--worker-set", "worker.status_period_s=0.5",
]  # fmt: skip
NODES = 5


def kube(stack: StackInfo, cluster: str) -> kubernetes.client.ApiClient:
    (found,) = [c for c in stack.clusters if c["name"] == cluster]
    return kubernetes.config.new_client_from_config(config_file=found["kubeconfig"])


def deployments(stack: StackInfo, namespace: str, name: str) -> dict[str, Any]:
    """The workload's Deployment in every emulated cluster that has one."""
    found: dict[str, Any] = {}
    for cluster in stack.clusters:
        with kube(stack, cluster["name"]) as api_client:
            api = kubernetes.client.AppsV1Api(api_client)
            for item in api.list_namespaced_deployment(namespace).items:
                if item.metadata.name == name:
                    found[cluster["name"]] = item
    return found


def replicas_of(stack: StackInfo, namespace: str, name: str) -> dict[str, int]:
    found = deployments(stack, namespace, name).items()
    return {cluster: d.spec.replicas for cluster, d in found if d.spec.replicas}


def placement(workload: dict[str, Any]) -> dict[str, int]:
    clusters = workload.get("placement", {}).get("clusters", [])
    return {p["cluster"]: p["replicas"] for p in clusters if p.get("replicas")}


@pytest.fixture(scope="module")
def fedctl(tmp_path_factory: pytest.TempPathFactory) -> Fedctl:
    return Fedctl(tmp_path_factory.mktemp("fedctl-home"))


@pytest.fixture(scope="module")
def stack(fedctl: Fedctl, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    directory = tmp_path_factory.mktemp("stack")
    try:
        fedctl.run(
            "dev", "up", "--clusters", "3", "--nodes", str(NODES), "--node-cpu", "8",
            "--node-memory", "32Gi", "--proxies", "3", "--workers", "2",
            "--dir", str(directory), *FAST,
        )  # fmt: skip
        yield StackInfo.load(directory)
    finally:
        with contextlib.suppress(StackError):
            down(directory)


def test_dev_up_writes_the_stack_and_the_context(fedctl: Fedctl, stack: StackInfo) -> None:
    context = json.loads((fedctl.home / "context.json").read_text())
    assert context["servers"] == stack.proxy_addresses
    assert Path(context["stack_dir"]) == Path(stack.dir)
    assert len(stack.clusters) == 3 and len(stack.workers) == 2
    status = fedctl.json("dev", "status", "--dir", stack.dir)
    assert all(member["alive"] for member in status["members"])
    assert len(status["members"]) == 3 + 2 + 2
    assert status["leader"] in {proxy.name for proxy in stack.proxies}
    assert status["clusters_ready"] == ["c1", "c2", "c3"]


def test_cluster_list_agrees_with_the_emulated_clusters(fedctl: Fedctl, stack: StackInfo) -> None:
    listed = {c["spec"]["name"]: c for c in fedctl.json("cluster", "list")["clusters"]}
    assert set(listed) == {c["name"] for c in stack.clusters}
    for cluster in stack.clusters:
        info = listed[cluster["name"]]
        assert (info["spec"]["region"], info["spec"]["zone"]) == (
            cluster["region"],
            cluster["zone"],
        )
        assert info["health"]["health"] == "CLUSTER_HEALTH_READY"
        with kube(stack, cluster["name"]) as api_client:
            nodes = kubernetes.client.CoreV1Api(api_client).list_node().items
        assert info["status"]["nodes_total"] == len(nodes) == NODES
        assert int(info["status"]["allocatable"]["cpu_millis"]) == NODES * 8000
        assert info["workers"]
    regions = {c["spec"]["region"] for c in listed.values()}
    assert len(regions) == 3
    table = fedctl.run("cluster", "list").stdout.splitlines()
    assert table[0].split()[:5] == ["NAME", "REGION", "ZONE", "STATE", "HEALTH"]
    assert [line.split()[0] for line in table[1:]] == ["c1", "c2", "c3"]
    assert all(f"{NODES}/{NODES}" in line for line in table[1:])


def test_cluster_describe_and_yaml(fedctl: Fedctl, stack: StackInfo) -> None:
    described = yaml.safe_load(fedctl.run("cluster", "describe", "c2", "-o", "yaml").stdout)
    assert described["spec"]["name"] == "c2"
    assert "kubeconfig" not in described["spec"]
    text = fedctl.run("cluster", "describe", "c2").stdout
    assert "Nodes ready / total" in text and f"{NODES} / {NODES}" in text
    assert fedctl.fails("cluster", "describe", "nope") == "error: NOT_FOUND: cluster nope not found"


def test_place_spread_over_regions_lands_in_every_region(fedctl: Fedctl, stack: StackInfo) -> None:
    placed = fedctl.json(
        "workload", "place", "web", "-n", "shop", "--replicas", "6", "--cpu", "500m",
        "--memory", "512Mi", "--image", "nginx:1.27", "--spread", "region",
    )["workload"]  # fmt: skip
    assert placement(placed) == {"c1": 2, "c2": 2, "c3": 2}
    assert placed["spec"]["resources"] == {"cpu_millis": "500", "memory_bytes": str(512 << 20)}
    eventually(lambda: replicas_of(stack, "shop", "web") == placement(placed), "Deployments")
    container = deployments(stack, "shop", "web")["c1"].spec.template.spec.containers[0]
    assert container.image == "nginx:1.27"
    assert container.resources.requests == {"cpu": "500m", "memory": "512Mi"}

    def ready() -> bool:
        return (
            fedctl.json("workload", "get", "web", "-n", "shop")["phase"] == "WORKLOAD_PHASE_READY"
        )

    eventually(ready, "web to be Ready")
    reserved = {
        c["spec"]["name"]: c["reserved"] for c in fedctl.json("cluster", "list")["clusters"]
    }
    assert reserved["c1"]["cpu_millis"] == "1000"


def test_min_clusters_and_gang(fedctl: Fedctl, stack: StackInfo) -> None:
    api = fedctl.json(
        "workload", "place", "api", "--replicas", "3", "--cpu", "250m", "--memory", "256Mi",
        "--image", "api:1", "--min-clusters", "3",
    )["workload"]  # fmt: skip
    assert len(placement(api)) == 3
    too_big = fedctl.fails(
        "workload", "place", "huge", "--replicas", "40", "--cpu", "4", "--memory", "1Gi",
        "--image", "batch:1", "--gang",
    )  # fmt: skip
    assert too_big.startswith("error: RESOURCE_EXHAUSTED: ")
    assert "huge" not in fedctl.run("workload", "list").stdout
    batch = fedctl.json(
        "workload", "place", "batch", "--replicas", "12", "--cpu", "2", "--memory", "1Gi",
        "--image", "batch:1", "--gang",
    )["workload"]  # fmt: skip
    assert sum(placement(batch).values()) == 12
    eventually(lambda: replicas_of(stack, "default", "batch") == placement(batch), "batch")


def test_list_get_scale_explain(fedctl: Fedctl, stack: StackInfo) -> None:
    names = {w["spec"]["name"] for w in fedctl.json("workload", "list")["workloads"]}
    assert {"web", "api", "batch"} <= names
    in_shop = fedctl.json("workload", "list", "-n", "shop")["workloads"]
    assert [w["spec"]["name"] for w in in_shop] == ["web"]
    table = fedctl.run("workload", "list").stdout
    assert "PLACEMENT" in table and "c1=2,c2=2,c3=2" in table

    scaled = fedctl.json("workload", "scale", "web", "-n", "shop", "--replicas", "9")
    assert sum(placement(scaled["workload"]).values()) == 9
    wanted = placement(scaled["workload"])
    eventually(lambda: replicas_of(stack, "shop", "web") == wanted, "the scale")

    explained = fedctl.json("workload", "explain", "web", "-n", "shop")
    assert {c["cluster"] for c in explained["clusters"]} == {"c1", "c2", "c3"}
    assert all(c["feasible"] and c["scores"] for c in explained["clusters"])
    assert sum(p["replicas"] for p in explained["placement"]["clusters"]) == 9
    assert "TOTAL" in fedctl.run("workload", "explain", "web", "-n", "shop").stdout
    assert "NOT_FOUND" in fedctl.fails("workload", "scale", "nope", "--replicas", "2")


def test_apply_a_deployment_with_placement_annotations(
    fedctl: Fedctl, stack: StackInfo, tmp_path: Path
) -> None:
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "checkout",
            "namespace": "shop",
            "labels": {"app": "checkout"},
            "annotations": {"fed.io/min-clusters": "2", "fed.io/spread": "zone"},
        },
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "checkout"}},
            "template": {
                "metadata": {"labels": {"app": "checkout"}},
                "spec": {
                    "containers": [
                        {
                            "name": "checkout",
                            "image": "shop/checkout:2.1",
                            "resources": {"requests": {"cpu": "300m", "memory": "384Mi"}},
                        }
                    ]
                },
            },
        },
    }
    path = tmp_path / "checkout.yaml"
    path.write_text(yaml.safe_dump(manifest))
    placed = fedctl.json("workload", "apply", "-f", str(path))["workload"]
    assert placed["spec"]["policy"]["min_clusters"] == 2
    assert placed["spec"]["policy"]["spread"]["topology"] == "zone"
    assert placed["spec"]["resources"]["cpu_millis"] == "300"
    assert len(placement(placed)) >= 2
    found = eventually(lambda: deployments(stack, "shop", "checkout"), "checkout")
    template = next(iter(found.values())).spec.template
    assert template.metadata.labels["app"] == "checkout"
    assert template.spec.containers[0].image == "shop/checkout:2.1"

    assert fedctl.run("workload", "apply", "-f", str(path)).stdout.startswith(
        "workload/shop/checkout unchanged"
    )
    manifest["spec"]["replicas"] = 6  # type: ignore[index]
    path.write_text(yaml.safe_dump(manifest))
    scaled = fedctl.json("workload", "apply", "-f", str(path))["workload"]
    assert sum(placement(scaled).values()) == 6


def test_watch_streams_changes(fedctl: Fedctl, stack: StackInfo) -> None:
    shape = ["--cpu", "100m", "--memory", "64Mi", "--image", "w:1"]
    fedctl.run("workload", "place", "one", "-n", "watched", "--replicas", "1", *shape)
    watcher = fedctl.popen("workload", "watch", "-n", "watched", "-o", "json")
    lines: queue.Queue[str] = queue.Queue()
    stdout = watcher.stdout
    assert stdout is not None
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()

    def next_event(kind: str, name: str) -> dict[str, Any]:
        deadline = time.monotonic() + 20
        while True:
            event = json.loads(lines.get(timeout=max(0.1, deadline - time.monotonic())))
            if event["type"] == kind and event["workload"]["spec"]["name"] == name:
                return event

    try:
        next_event("EVENT_TYPE_ADDED", "one")
        fedctl.run("workload", "place", "two", "-n", "watched", "--replicas", "2", *shape)
        added = next_event("EVENT_TYPE_ADDED", "two")
        assert added["workload"]["spec"]["replicas"] == 2
        fedctl.run("workload", "delete", "two", "-n", "watched")
        next_event("EVENT_TYPE_DELETED", "two")
    finally:
        watcher.send_signal(signal.SIGINT)
        _, stderr = watcher.communicate(timeout=10)
    assert watcher.returncode == 0 and stderr == ""


def test_delete_removes_the_deployments(fedctl: Fedctl, stack: StackInfo) -> None:
    fedctl.run("workload", "delete", "api")
    eventually(lambda: not deployments(stack, "default", "api"), "api to leave the clusters")
    eventually(lambda: "api" not in fedctl.run("workload", "list").stdout, "the record to go")


def test_cordon_keeps_new_replicas_away(fedctl: Fedctl, stack: StackInfo) -> None:
    cordoned = fedctl.json("cluster", "cordon", "c1", "--reason", "maintenance")
    assert cordoned["spec"]["state"] == "ADMIN_STATE_CORDONED"
    placed = fedctl.json(
        "workload", "place", "late", "--replicas", "4", "--cpu", "100m", "--memory", "64Mi",
        "--image", "late:1",
    )["workload"]  # fmt: skip
    assert "c1" not in placement(placed)
    assert "cluster_state" in fedctl.run("workload", "explain", "late").stdout
    uncordoned = fedctl.json("cluster", "uncordon", "c1")
    assert uncordoned["spec"]["state"] == "ADMIN_STATE_ACTIVE"


def test_topology_shows_leader_proxies_and_assignments(fedctl: Fedctl, stack: StackInfo) -> None:
    topology = fedctl.json("topology")
    proxies = {p["member"]["id"] for p in topology["proxies"]}
    assert proxies == {p.name for p in stack.proxies}
    assert topology["leader"]["member"]["id"] in proxies
    served = {c for w in topology["workers"] for c in w["assignment"].get("clusters", [])}
    assert served == {"c1", "c2", "c3"}
    assert "Leader:" in fedctl.run("topology").stdout


def test_reflection_lists_the_federation_service(stack: StackInfo) -> None:
    with grpc.insecure_channel(stack.proxy_addresses[0]) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        assert "fed.v1.Federation" in database.get_services()
        service = database.FindFileContainingSymbol("fed.v1.Federation")
        assert service.name == "fed/v1/federation.proto"


def test_server_flag_and_environment_override_the_context(
    fedctl: Fedctl, stack: StackInfo, tmp_path: Path
) -> None:
    bare = Fedctl(tmp_path)
    assert bare.fails("cluster", "list").startswith("error: no server")
    servers = ",".join(stack.proxy_addresses)
    assert len(bare.json("--server", servers, "cluster", "list")["clusters"]) == 3
    listed = bare.run("cluster", "list", "-o", "json", FEDCTL_SERVER=servers).stdout
    assert len(json.loads(listed)["clusters"]) == 3
    unreachable = bare.fails("--server", "127.0.0.1:1", "--request-timeout", "1", "topology")
    assert unreachable.startswith("error: UNAVAILABLE: ")


def test_remove_and_register_a_cluster(fedctl: Fedctl, stack: StackInfo) -> None:
    refused = fedctl.fails("cluster", "remove", "c3")
    assert refused.startswith("error: FAILED_PRECONDITION: cluster c3 still holds")
    fedctl.run("cluster", "remove", "c3", "--force")
    assert [c["spec"]["name"] for c in fedctl.json("cluster", "list")["clusters"]] == ["c1", "c2"]
    (c3,) = [c for c in stack.clusters if c["name"] == "c3"]
    registered = fedctl.json(
        "cluster", "register", "c3", "--kubeconfig", c3["kubeconfig"], "--region", "r3",
        "--zone", "r3-b", "--label", "tier=gold", "--taint", "dedicated=batch:NoSchedule",
    )  # fmt: skip
    assert registered["spec"]["labels"] == {"tier": "gold"}
    assert registered["spec"]["taints"] == [
        {"key": "dedicated", "value": "batch", "effect": "NoSchedule"}
    ]

    def ready() -> bool:
        described = fedctl.json("cluster", "describe", "c3")
        return described["health"].get("health") == "CLUSTER_HEALTH_READY"

    eventually(ready, "the re-registered c3 to be Ready")
    assert "dedicated=batch:NoSchedule" in fedctl.run("cluster", "describe", "c3").stdout


def test_a_second_stack_runs_side_by_side(fedctl: Fedctl, stack: StackInfo, tmp_path: Path) -> None:
    other = Fedctl(tmp_path / "home")
    directory = tmp_path / "stack"
    try:
        started = other.json(
            "dev", "up", "--clusters", "1", "--nodes", "2", "--proxies", "1", "--workers", "1",
            "--dir", str(directory), *FAST,
        )  # fmt: skip
        assert started == json.loads((directory / "stack.json").read_text())
        assert started["proxies"][0]["address"] not in stack.proxy_addresses
        assert fedctl.fails("dev", "up", "--dir", str(directory)).startswith(
            "error: a stack already runs in"
        )
        assert [c["spec"]["name"] for c in other.json("cluster", "list")["clusters"]] == ["c1"]
        assert len(fedctl.json("cluster", "list")["clusters"]) == 3
        stopped = other.json("dev", "down", "--dir", str(directory))
        assert len(stopped["stopped"]) == 4 and stopped["context_removed"]
        assert not [m["pid"] for m in stopped["stopped"] if alive(m["pid"])]
    finally:
        with contextlib.suppress(StackError):
            down(directory)


def test_dev_down_leaves_no_process(fedctl: Fedctl, stack: StackInfo) -> None:
    pids = [member.pid for member in stack.members()]
    assert all(alive(pid) for pid in pids)
    done = fedctl.run("dev", "down", "--dir", stack.dir)
    assert "stopped 7 processes" in done.stdout
    assert not [pid for pid in pids if alive(pid)]
    assert not (fedctl.home / "context.json").exists()
    assert fedctl.fails("dev", "status", "--dir", stack.dir).startswith("error: no stack in")
