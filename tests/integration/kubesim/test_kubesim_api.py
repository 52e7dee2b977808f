"""CRUD, metadata, conflicts, errors and subresources through the official client."""

from __future__ import annotations

import json

import pytest
from integration.kubesim.kubesim_support import Kube, pod_body, raw_request
from kubernetes import client
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.integration
MERGE = "application/merge-patch+json"
APPLY = "application/apply-patch+yaml"


def status_of(exc: ApiException) -> dict[str, object]:
    body: dict[str, object] = json.loads(exc.body)
    assert body["kind"] == "Status"
    assert body["code"] == exc.status
    return body


def test_create_get_list_replace_delete(kube: Kube, namespace: str) -> None:
    created = kube.core.create_namespaced_pod(
        namespace, pod_body("web-1", labels={"app": "web"}, scheduler_name="manual")
    )
    assert created.metadata.uid
    assert created.metadata.creation_timestamp is not None
    assert created.metadata.namespace == namespace
    assert created.status.phase == "Pending"

    got = kube.core.read_namespaced_pod("web-1", namespace)
    assert got.metadata.uid == created.metadata.uid
    names = [p.metadata.name for p in kube.core.list_namespaced_pod(namespace).items]
    assert names == ["web-1"]
    everywhere = kube.core.list_pod_for_all_namespaces()
    assert any(p.metadata.namespace == namespace for p in everywhere.items)

    got.metadata.labels["tier"] = "front"
    replaced = kube.core.replace_namespaced_pod("web-1", namespace, got)
    assert replaced.metadata.labels == {"app": "web", "tier": "front"}
    assert int(replaced.metadata.resource_version) > int(got.metadata.resource_version)

    kube.core.delete_namespaced_pod("web-1", namespace, grace_period_seconds=0)
    with pytest.raises(ApiException) as err:
        kube.core.read_namespaced_pod("web-1", namespace)
    assert err.value.status == 404
    assert status_of(err.value)["reason"] == "NotFound"


def test_generate_name(kube: Kube, namespace: str) -> None:
    body = pod_body("")
    body.metadata = client.V1ObjectMeta(generate_name="batch-")
    created = kube.core.create_namespaced_pod(namespace, body)
    assert created.metadata.name.startswith("batch-")
    assert len(created.metadata.name) == len("batch-") + 5


def test_resource_version_is_one_counter_across_kinds(kube: Kube, namespace: str) -> None:
    pod = kube.core.create_namespaced_pod(namespace, pod_body("rv-a"))
    ns = kube.core.read_namespace(namespace)
    other = kube.core.create_namespaced_pod(namespace, pod_body("rv-b"))
    assert int(ns.metadata.resource_version) < int(pod.metadata.resource_version)
    assert int(pod.metadata.resource_version) < int(other.metadata.resource_version)
    listed = kube.core.list_namespaced_pod(namespace)
    assert int(listed.metadata.resource_version) >= int(other.metadata.resource_version)


def test_generation_bumps_only_on_spec_changes(kube: Kube, namespace: str) -> None:
    dep = deployment("gen", replicas=0)
    created = kube.apps.create_namespaced_deployment(namespace, dep)
    assert created.metadata.generation == 1
    labelled = kube.apps.patch_namespaced_deployment(
        "gen", namespace, {"metadata": {"labels": {"x": "y"}}}
    )
    assert labelled.metadata.generation == 1
    scaled = kube.apps.patch_namespaced_deployment("gen", namespace, {"spec": {"replicas": 2}})
    assert scaled.metadata.generation == 2


def test_status_subresource_split(kube: Kube, namespace: str) -> None:
    kube.apps.create_namespaced_deployment(namespace, deployment("split", replicas=0))
    main = kube.apps.patch_namespaced_deployment(
        "split", namespace, {"status": {"replicas": 42}, "metadata": {"labels": {"a": "b"}}}
    )
    assert main.status.replicas in (None, 0)
    assert main.metadata.labels["a"] == "b"
    status = kube.apps.patch_namespaced_deployment_status(
        "split", namespace, {"status": {"replicas": 7}, "spec": {"replicas": 9}}
    )
    assert status.status.replicas == 7
    assert status.spec.replicas == 0


def test_conflicts(kube: Kube, namespace: str) -> None:
    body = pod_body("c-1", scheduler_name="manual")
    first = kube.core.create_namespaced_pod(namespace, body)
    with pytest.raises(ApiException) as dup:
        kube.core.create_namespaced_pod(namespace, body)
    assert dup.value.status == 409
    assert status_of(dup.value)["reason"] == "AlreadyExists"

    kube.core.patch_namespaced_pod("c-1", namespace, {"metadata": {"labels": {"v": "2"}}})
    first.metadata.labels = {"v": "stale"}
    with pytest.raises(ApiException) as stale:
        kube.core.replace_namespaced_pod("c-1", namespace, first)
    assert stale.value.status == 409
    assert status_of(stale.value)["reason"] == "Conflict"

    stale_patch = {"metadata": {"resourceVersion": first.metadata.resource_version}}
    with pytest.raises(ApiException) as patched:
        kube.core.patch_namespaced_pod("c-1", namespace, stale_patch)
    assert patched.value.status == 409

    options = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="not-the-uid"))
    with pytest.raises(ApiException) as pre:
        kube.core.delete_namespaced_pod("c-1", namespace, body=options)
    assert pre.value.status == 409


def test_errors_are_status_objects(kube: Kube, namespace: str) -> None:
    cases = [
        (lambda: kube.core.create_namespaced_pod("no-such-ns", pod_body("x")), 404, "NotFound"),
        (lambda: kube.core.create_namespaced_pod(namespace, pod_body("Bad_Name")), 422, "Invalid"),
        (lambda: kube.core.read_namespaced_pod("missing", namespace), 404, "NotFound"),
        (
            lambda: kube.core.list_namespaced_pod(namespace, field_selector="spec.foo=bar"),
            400,
            "BadRequest",
        ),
    ]
    for call, code, reason in cases:
        with pytest.raises(ApiException) as err:
            call()
        assert err.value.status == code
        assert status_of(err.value)["reason"] == reason


def test_invalid_lists_causes(kube: Kube, namespace: str) -> None:
    body = client.V1Pod(metadata=client.V1ObjectMeta(), spec=client.V1PodSpec(containers=[]))
    with pytest.raises(ApiException) as err:
        kube.core.create_namespaced_pod(namespace, body)
    status = status_of(err.value)
    causes = {c["field"] for c in status["details"]["causes"]}  # type: ignore[index]
    assert causes == {"metadata.name", "spec.containers"}


def test_namespace_mismatch_is_bad_request(kube: Kube, namespace: str) -> None:
    body = pod_body("mismatch")
    body.metadata.namespace = "default"
    with pytest.raises(ApiException) as err:
        kube.core.create_namespaced_pod(namespace, body)
    assert err.value.status == 400


def test_patch_formats(kube: Kube, namespace: str) -> None:
    kube.apps.create_namespaced_deployment(namespace, deployment("pf", replicas=0))
    strategic = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox:1.36"}]}}
        }
    }
    dep = kube.apps.patch_namespaced_deployment("pf", namespace, strategic)
    assert [c.name for c in dep.spec.template.spec.containers] == ["app", "sidecar"]

    ops = [
        {"op": "replace", "path": "/spec/replicas", "value": 0},
        {"op": "add", "path": "/metadata/labels", "value": {"json": "patch"}},
    ]
    dep = kube.apps.patch_namespaced_deployment("pf", namespace, ops)
    assert dep.metadata.labels == {"json": "patch"}

    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/pf"
    code, raw = raw_request(kube, path, "PATCH", b'{"metadata":{"labels":null}}', MERGE)
    assert code == 200
    assert "labels" not in raw["metadata"]  # type: ignore[operator]

    code, status = raw_request(kube, path, "PATCH", b"{}", "application/xml")
    assert code == 415
    assert status["reason"] == "UnsupportedMediaType"


def test_bad_json_is_bad_request(kube: Kube, namespace: str) -> None:
    code, status = raw_request(kube, f"/api/v1/namespaces/{namespace}/pods", "POST", b"{not json")
    assert code == 400
    assert status["kind"] == "Status"


def test_finalizers_hold_deletion(kube: Kube, namespace: str) -> None:
    body = pod_body("fin", scheduler_name="manual")
    body.metadata.finalizers = ["example.com/hold"]
    kube.core.create_namespaced_pod(namespace, body)
    kube.core.delete_namespaced_pod("fin", namespace)
    held = kube.core.read_namespaced_pod("fin", namespace)
    assert held.metadata.deletion_timestamp is not None
    kube.core.patch_namespaced_pod(
        "fin", namespace, [{"op": "remove", "path": "/metadata/finalizers"}]
    )
    with pytest.raises(ApiException) as err:
        kube.core.read_namespaced_pod("fin", namespace)
    assert err.value.status == 404


def test_discovery(kube: Kube) -> None:
    version = client.VersionApi(kube.api).get_code()
    assert version.major == "1"
    groups = {g.name for g in client.ApisApi(kube.api).get_api_versions().groups}
    assert {"apps", "metrics.k8s.io"} <= groups
    core = {r.name for r in kube.core.get_api_resources().resources}
    assert {"pods", "pods/status", "pods/binding", "nodes", "namespaces", "events"} <= core
    apps = {r.name for r in kube.apps.get_api_resources().resources}
    assert {"deployments", "deployments/scale", "deployments/status"} <= apps


def deployment(name: str, replicas: int = 1, **pod_spec: object) -> client.V1Deployment:
    labels = {"app": name}
    container = client.V1Container(
        name="app",
        image="nginx:1.27",
        resources=client.V1ResourceRequirements(requests={"cpu": "100m", "memory": "64Mi"}),
    )
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[container], **pod_spec),
            ),
        ),
    )


def test_immutable_fields(kube: Kube, namespace: str) -> None:
    kube.core.create_namespaced_pod(namespace, pod_body("fixed", scheduler_name="x"))
    image = {"spec": {"containers": [{"name": "app", "image": "nginx:1.28"}]}}
    assert kube.core.patch_namespaced_pod("fixed", namespace, image).spec.containers[0].image == (
        "nginx:1.28"
    )
    with pytest.raises(ApiException) as err:
        kube.core.patch_namespaced_pod("fixed", namespace, {"spec": {"restartPolicy": "Never"}})
    assert err.value.status == 422
    kube.apps.create_namespaced_deployment(namespace, deployment("sel", replicas=0))
    selector = {"spec": {"selector": {"matchLabels": {"app": "other"}}}}
    with pytest.raises(ApiException) as err:
        kube.apps.patch_namespaced_deployment("sel", namespace, selector)
    assert err.value.status == 422


def test_server_side_apply_creates_then_merges(kube: Kube, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/pods/applied?fieldManager=tests"
    doc = (
        b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: applied\n  labels: {a: '1'}\n"
        b"spec:\n  schedulerName: x\n  containers: [{name: app, image: nginx}]\n"
    )
    code, created = raw_request(kube, path, "PATCH", doc, APPLY)
    assert code == 201
    assert created["metadata"]["labels"] == {"a": "1"}  # type: ignore[index]
    again = doc.replace(b"{a: '1'}", b"{a: '1', b: '2'}")
    code, merged = raw_request(kube, path, "PATCH", again, APPLY)
    assert code == 200
    assert merged["metadata"]["labels"] == {"a": "1", "b": "2"}  # type: ignore[index]
    no_manager = path.split("?", maxsplit=1)[0]
    code, status = raw_request(kube, no_manager, "PATCH", doc, APPLY)
    assert status["reason"] == "Invalid"
    assert code == 422


def test_delete_collection(kube: Kube, namespace: str) -> None:
    for name, team in (("x1", "a"), ("x2", "a"), ("x3", "b")):
        kube.core.create_namespaced_pod(
            namespace, pod_body(name, labels={"team": team}, scheduler_name="manual")
        )
    kube.core.delete_collection_namespaced_pod(namespace, label_selector="team=a")
    left = [p.metadata.name for p in kube.core.list_namespaced_pod(namespace).items]
    assert left == ["x3"]


def test_exact_resource_version_list(kube: Kube, namespace: str) -> None:
    kube.core.create_namespaced_pod(namespace, pod_body("old", scheduler_name="manual"))
    before = kube.core.list_namespaced_pod(namespace).metadata.resource_version
    kube.core.create_namespaced_pod(namespace, pod_body("new", scheduler_name="manual"))
    then = kube.core.list_namespaced_pod(
        namespace, resource_version=before, resource_version_match="Exact"
    )
    assert [p.metadata.name for p in then.items] == ["old"]


def test_malformed_bodies_are_status_400(kube: Kube, namespace: str) -> None:
    kube.core.create_namespaced_pod(namespace, pod_body("target", scheduler_name="manual"))
    path = f"/api/v1/namespaces/{namespace}/pods/target/binding"
    code, status = raw_request(kube, path, "POST", b'{"target": "not-an-object"}')
    assert (code, status["kind"], status["reason"]) == (400, "Status", "BadRequest")
    code, status = raw_request(kube, f"/api/v1/namespaces/{namespace}/pods", "POST", b"[1, 2]")
    assert (code, status["kind"]) == (400, "Status")
