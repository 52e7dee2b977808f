"""The simulated control plane: scheduler, binding, kubelet, deployments, GC, namespaces,
metrics."""

from __future__ import annotations

import pytest
from integration.kubesim.kubesim_support import Kube, pod_body, wait_for
from integration.kubesim.test_kubesim_api import deployment
from kubernetes import client
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.integration


def running_pods(kube: Kube, namespace: str, selector: str) -> list[client.V1Pod]:
    pods = kube.core.list_namespaced_pod(namespace, label_selector=selector).items
    return [p for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp]


def test_deployment_becomes_running_and_scales(kube: Kube, namespace: str) -> None:
    kube.apps.create_namespaced_deployment(namespace, deployment("web", replicas=3))
    wait_for(lambda: len(running_pods(kube, namespace, "app=web")) == 3)
    pod = running_pods(kube, namespace, "app=web")[0]
    owner = pod.metadata.owner_references[0]
    assert (owner.kind, owner.controller) == ("ReplicaSet", True)
    replica_set = kube.apps.read_namespaced_replica_set(owner.name, namespace)
    top = replica_set.metadata.owner_references[0]
    assert (top.kind, top.name) == ("Deployment", "web")
    assert replica_set.metadata.labels["pod-template-hash"] == owner.name.rsplit("-", 1)[1]
    assert pod.status.pod_ip and pod.status.host_ip and pod.spec.node_name
    ready = {c.type: c.status for c in pod.status.conditions}
    assert ready["Ready"] == "True" and ready["PodScheduled"] == "True"

    def available() -> bool:
        dep = kube.apps.read_namespaced_deployment("web", namespace)
        return dep.status.available_replicas == 3 and dep.status.observed_generation == 1

    wait_for(available)
    scale = kube.apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 1}})
    assert scale.spec.replicas == 1
    wait_for(lambda: len(kube.core.list_namespaced_pod(namespace).items) == 1)
    status = kube.apps.read_namespaced_deployment_scale("web", namespace)
    assert status.status.selector == "app=web"


def test_deleting_a_deployment_collects_its_pods(kube: Kube, namespace: str) -> None:
    kube.apps.create_namespaced_deployment(namespace, deployment("gc", replicas=2))
    wait_for(lambda: len(running_pods(kube, namespace, "app=gc")) == 2)
    kube.apps.delete_namespaced_deployment("gc", namespace)
    wait_for(lambda: not kube.core.list_namespaced_pod(namespace).items)


def test_bound_pods_terminate_gracefully(kube: Kube, namespace: str) -> None:
    kube.core.create_namespaced_pod(namespace, pod_body("grace"))
    wait_for(lambda: kube.core.read_namespaced_pod("grace", namespace).status.phase == "Running")
    terminating = kube.core.delete_namespaced_pod("grace", namespace)
    assert terminating.metadata.deletion_timestamp is not None
    assert terminating.metadata.deletion_grace_period_seconds == 30
    wait_for(lambda: not kube.core.list_namespaced_pod(namespace).items)


def test_binding_subresource(kube: Kube, namespace: str) -> None:
    kube.core.create_namespaced_pod(namespace, pod_body("manual", scheduler_name="my-scheduler"))
    node = kube.core.list_node().items[1].metadata.name
    binding = client.V1Binding(
        metadata=client.V1ObjectMeta(name="manual"),
        target=client.V1ObjectReference(kind="Node", name=node),
    )
    kube.core.create_namespaced_binding(namespace, binding, _preload_content=False)
    pod = kube.core.read_namespaced_pod("manual", namespace)
    assert pod.spec.node_name == node
    with pytest.raises(ApiException) as err:
        kube.core.create_namespaced_pod_binding(
            "manual", namespace, binding, _preload_content=False
        )
    assert err.value.status == 409
    wait_for(lambda: kube.core.read_namespaced_pod("manual", namespace).status.phase == "Running")


def test_unschedulable_pods_report_why(kube: Kube, namespace: str) -> None:
    kube.core.create_namespaced_pod(namespace, pod_body("huge", cpu="64"))

    def reason() -> str | None:
        pod = kube.core.read_namespaced_pod("huge", namespace)
        cond = next((c for c in pod.status.conditions or [] if c.type == "PodScheduled"), None)
        return cond.reason if cond and cond.status == "False" else None

    assert wait_for(reason) == "Unschedulable"
    pod = kube.core.read_namespaced_pod("huge", namespace)
    assert "Insufficient cpu" in pod.status.conditions[0].message
    assert pod.spec.node_name is None


def test_node_selector_and_taints(kube: Kube, namespace: str) -> None:
    nodes = kube.core.list_node().items
    chosen = nodes[2].metadata.name
    kube.core.patch_node(chosen, {"metadata": {"labels": {"disk": "ssd"}}})
    kube.core.patch_node(
        chosen, {"spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}}
    )
    kube.core.create_namespaced_pod(namespace, pod_body("picky", node_selector={"disk": "ssd"}))
    tolerant = pod_body(
        "tolerant",
        node_selector={"disk": "ssd"},
        tolerations=[client.V1Toleration(key="dedicated", operator="Equal", value="db")],
    )
    kube.core.create_namespaced_pod(namespace, tolerant)
    wait_for(lambda: kube.core.read_namespaced_pod("tolerant", namespace).spec.node_name)
    assert kube.core.read_namespaced_pod("tolerant", namespace).spec.node_name == chosen
    picky = kube.core.read_namespaced_pod("picky", namespace)
    assert picky.spec.node_name is None
    kube.core.patch_node(chosen, {"spec": {"taints": None}})
    wait_for(lambda: kube.core.read_namespaced_pod("picky", namespace).spec.node_name == chosen)


def test_namespace_termination_cascades(kube: Kube, namespace: str) -> None:
    held = pod_body("held", scheduler_name="manual")
    held.metadata.finalizers = ["example.com/hold"]
    kube.core.create_namespaced_pod(namespace, held)
    kube.apps.create_namespaced_deployment(namespace, deployment("doomed", replicas=1))
    wait_for(lambda: len(running_pods(kube, namespace, "app=doomed")) == 1)
    kube.core.delete_namespace(namespace)
    assert kube.core.read_namespace(namespace).status.phase == "Terminating"
    with pytest.raises(ApiException) as err:
        kube.core.create_namespaced_pod(namespace, pod_body("late"))
    assert err.value.status == 403
    wait_for(lambda: [p.metadata.name for p in kube.core.list_namespaced_pod(namespace).items]
             == ["held"])  # fmt: skip
    assert kube.core.read_namespace(namespace).status.phase == "Terminating"
    kube.core.patch_namespaced_pod("held", namespace, {"metadata": {"finalizers": None}})

    def gone() -> bool:
        try:
            kube.core.read_namespace(namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone)
    assert not kube.core.list_namespaced_pod(namespace).items


def test_protected_namespaces(kube: Kube) -> None:
    with pytest.raises(ApiException) as err:
        kube.core.delete_namespace("kube-system")
    assert err.value.status == 403


def test_metrics_api(kube: Kube, namespace: str) -> None:
    kube.apps.create_namespaced_deployment(namespace, deployment("busy", replicas=2))
    wait_for(lambda: len(running_pods(kube, namespace, "app=busy")) == 2)
    nodes = kube.custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")
    assert nodes["kind"] == "NodeMetricsList"
    assert len(nodes["items"]) == len(kube.core.list_node().items)
    assert all(i["usage"]["cpu"].endswith("n") for i in nodes["items"])
    pods = kube.custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", namespace, "pods")
    assert len(pods["items"]) == 2
    usage = pods["items"][0]["containers"][0]["usage"]
    assert usage["memory"].endswith("Ki")
    one = kube.custom.get_cluster_custom_object(
        "metrics.k8s.io", "v1beta1", "nodes", nodes["items"][0]["metadata"]["name"]
    )
    assert one["kind"] == "NodeMetrics"


def test_controllers_record_events(kube: Kube, namespace: str) -> None:
    kube.apps.create_namespaced_deployment(namespace, deployment("noisy", replicas=2))
    kube.core.create_namespaced_pod(namespace, pod_body("too-big", cpu="100"))

    def reasons() -> set[str]:
        events = kube.core.list_namespaced_event(namespace).items
        return {e.reason for e in events}

    wait_for(lambda: {"ScalingReplicaSet", "FailedScheduling"} <= reasons())
    scaled = kube.core.list_namespaced_event(
        namespace, field_selector="involvedObject.name=noisy,reason=ScalingReplicaSet"
    ).items
    assert scaled[0].message.endswith("to 2")
    assert scaled[0].involved_object.kind == "Deployment"
    failed = kube.core.list_namespaced_event(namespace, field_selector="type=Warning").items
    assert failed[0].involved_object.name == "too-big"


def test_orphan_deletion_keeps_pods(kube: Kube, namespace: str) -> None:
    kube.apps.create_namespaced_deployment(namespace, deployment("orphans", replicas=2))
    wait_for(lambda: len(running_pods(kube, namespace, "app=orphans")) == 2)
    kube.apps.delete_namespaced_deployment("orphans", namespace, propagation_policy="Orphan")
    sets = kube.apps.list_namespaced_replica_set(namespace).items
    assert len(sets) == 1
    assert not sets[0].metadata.owner_references
    pods = kube.core.list_namespaced_pod(namespace).items
    assert len(pods) == 2
