"""Scheduler fit, kubelet start and deployment planning, driven tick by tick."""

from __future__ import annotations

import time

from tools.kubesim.cluster import ClusterSim
from tools.kubesim.config import SimConfig
from tools.kubesim.deployments import Group, resolve, rolling_targets, template_hash
from tools.kubesim.registry import DeleteOptions
from tools.kubesim.resources import DEPLOYMENTS, PODS
from tools.kubesim.scheduler import tolerates


def cluster(nodes: int = 2, **kwargs: object) -> ClusterSim:
    cfg = SimConfig(nodes=nodes, node_cpu="2", node_memory="4Gi", kubelet_delay=0, **kwargs)
    return ClusterSim(cfg.cluster_specs()[0], cfg)


def pod(name: str, cpu: str) -> dict[str, object]:
    container = {"name": "c", "image": "nginx", "resources": {"requests": {"cpu": cpu}}}
    return {"metadata": {"name": name}, "spec": {"containers": [container]}}


def settle(sim: ClusterSim, rounds: int = 20) -> None:
    for _ in range(rounds):
        if not sim.tick():
            return


def test_pods_fill_nodes_then_wait() -> None:
    sim = cluster()
    for i in range(5):
        sim.registry.create(PODS, "default", pod(f"p{i}", "1"))
    settle(sim)
    placed = [sim.registry.get(PODS, "default", f"p{i}").obj for i in range(5)]
    bound = [p for p in placed if p["spec"].get("nodeName")]
    assert len(bound) == 4
    waiting = next(p for p in placed if not p["spec"].get("nodeName"))
    condition = waiting["status"]["conditions"][0]
    assert (condition["reason"], condition["status"]) == ("Unschedulable", "False")
    assert "2 Insufficient cpu" in condition["message"]
    assert all(p["status"]["phase"] == "Running" for p in bound)
    first = bound[0]["metadata"]["name"]
    sim.registry.delete(PODS, "default", first, DeleteOptions(grace_seconds=0))
    settle(sim)
    assert sim.registry.get(PODS, "default", waiting["metadata"]["name"]).obj["spec"]["nodeName"]


def test_tolerations() -> None:
    taint = {"key": "k", "value": "v", "effect": "NoSchedule"}
    assert tolerates([{"key": "k", "value": "v"}], taint)
    assert tolerates([{"operator": "Exists"}], taint)
    assert tolerates([{"key": "k", "operator": "Exists", "effect": "NoSchedule"}], taint)
    assert not tolerates([{"key": "k", "value": "w"}], taint)
    assert not tolerates([{"key": "k", "operator": "Exists", "effect": "NoExecute"}], taint)


def test_rolling_update_replaces_pods() -> None:
    sim = cluster(nodes=4)
    template = {"metadata": {"labels": {"app": "w"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}  # fmt: skip
    spec = {"replicas": 4, "selector": {"matchLabels": {"app": "w"}}, "template": template}
    sim.registry.create(DEPLOYMENTS, "default", {"metadata": {"name": "w"}, "spec": spec})
    settle(sim)
    first_hash = template_hash(
        sim.registry.get(DEPLOYMENTS, "default", "w").obj["spec"]["template"]
    )
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}}
    sim.registry.patch(DEPLOYMENTS, "default", "w", "application/strategic-merge-patch+json", patch)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        sim.tick()
        pods = [e for e in sim.store.table("pods").entries.values()
                if not e.meta.get("deletionTimestamp")]  # fmt: skip
        hashes = {p.labels["pod-template-hash"] for p in pods}
        status = sim.registry.get(DEPLOYMENTS, "default", "w").obj["status"]
        if len(pods) == 4 and first_hash not in hashes and status.get("updatedReplicas") == 4:
            break
    else:
        raise AssertionError("rollout did not finish")
    sets = {
        e.meta["name"]: e.obj["spec"]["replicas"]
        for e in sim.store.table("replicasets").entries.values()
    }
    assert sets == {f"w-{first_hash}": 0, f"w-{template_hash(patched_template(sim))}": 4}


def patched_template(sim: ClusterSim) -> dict[str, object]:
    template: dict[str, object] = sim.registry.get(DEPLOYMENTS, "default", "w").obj["spec"][
        "template"
    ]
    return template


def test_resolve_int_or_percent() -> None:
    assert resolve("25%", 10, True) == 3
    assert resolve("25%", 10, False) == 2
    assert resolve(2, 10, True) == 2


def test_equal_nodes_are_used_round_robin() -> None:
    sim = cluster(nodes=3)
    for i in range(6):
        sim.registry.create(PODS, "default", pod(f"s{i}", "0"))
    settle(sim)
    nodes = [sim.registry.get(PODS, "default", f"s{i}").obj["spec"]["nodeName"] for i in range(6)]
    assert sorted(nodes.count(n) for n in set(nodes)) == [2, 2, 2]


def test_scale_down_removes_unscheduled_pods_first() -> None:
    sim = cluster(nodes=2)
    template = {"metadata": {"labels": {"app": "s"}}, "spec": {"containers": [
        {"name": "c", "image": "nginx", "resources": {"requests": {"cpu": "1"}}}]}}  # fmt: skip
    spec = {"replicas": 6, "selector": {"matchLabels": {"app": "s"}}, "template": template}
    sim.registry.create(DEPLOYMENTS, "default", {"metadata": {"name": "s"}, "spec": spec})
    settle(sim)
    pods = list(sim.store.table("pods").entries.values())
    assert sum(1 for p in pods if p.obj["spec"].get("nodeName")) == 4
    sim.registry.patch(DEPLOYMENTS, "default", "s", "application/merge-patch+json",
                       {"spec": {"replicas": 4}})  # fmt: skip
    settle(sim)
    live = [p for p in sim.store.table("pods").entries.values()
            if not p.meta.get("deletionTimestamp")]  # fmt: skip
    assert len(live) == 4
    assert all(p.obj["spec"].get("nodeName") for p in live)
    status = sim.registry.get(DEPLOYMENTS, "default", "s").obj["status"]
    assert (status["replicas"], status["readyReplicas"]) == (4, 4)


def test_shared_pod_specs_are_copy_on_write() -> None:
    sim = cluster(nodes=2)
    template = {"metadata": {"labels": {"app": "cow"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}  # fmt: skip
    spec = {"replicas": 3, "selector": {"matchLabels": {"app": "cow"}}, "template": template}
    sim.registry.create(DEPLOYMENTS, "default", {"metadata": {"name": "cow"}, "spec": spec})
    settle(sim)
    names = sorted(e.meta["name"] for e in sim.store.table("pods").entries.values())
    image = {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}
    sim.registry.patch(PODS, "default", names[0], "application/strategic-merge-patch+json", image)
    images = [sim.registry.get(PODS, "default", n).obj["spec"]["containers"][0]["image"]
              for n in names]  # fmt: skip
    assert images == ["nginx:2", "nginx:1", "nginx:1"]
    stored = sim.registry.get(DEPLOYMENTS, "default", "cow").obj["spec"]["template"]["spec"]
    assert stored["containers"][0]["image"] == "nginx:1"


def test_rolling_targets_follow_surge_and_unavailability() -> None:
    new = Group(None, 0, 0, 0)
    old = [Group(None, 4, 4, 4)]
    rolling_targets(4, 1, 1, new, old)
    assert (new.target, old[0].target) == (1, 3)
    new, old = Group(None, 1, 1, 1), [Group(None, 3, 3, 3)]
    rolling_targets(4, 1, 1, new, old)
    assert (new.target, old[0].target) == (2, 2)
    new, old = Group(None, 4, 4, 4), [Group(None, 1, 1, 1)]
    rolling_targets(4, 1, 1, new, old)
    assert (new.target, old[0].target) == (4, 0)
    new, old = Group(None, 1, 1, 0), [Group(None, 4, 4, 2)]
    rolling_targets(4, 1, 1, new, old)
    assert (new.target, old[0].target) == (1, 3)


def test_recreate_removes_old_pods_before_new_ones() -> None:
    sim = cluster(nodes=2)
    template = {"metadata": {"labels": {"app": "r"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}  # fmt: skip
    spec = {"replicas": 2, "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {"app": "r"}}, "template": template}  # fmt: skip
    sim.registry.create(DEPLOYMENTS, "default", {"metadata": {"name": "r"}, "spec": spec})
    settle(sim)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}}
    sim.registry.patch(DEPLOYMENTS, "default", "r", "application/strategic-merge-patch+json", patch)
    images_seen: list[set[str]] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        sim.tick()
        pods = list(sim.store.table("pods").entries.values())
        images_seen.append({p.obj["spec"]["containers"][0]["image"] for p in pods})
        if images_seen[-1] == {"nginx:2"} and len(pods) == 2:
            break
    assert all(len(images) <= 1 for images in images_seen)
    assert images_seen[-1] == {"nginx:2"}
