"""Label and field selectors, pagination and expired continue tokens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from integration.kubesim.kubesim_support import Kube, kube_for, pod_body, wait_for
from kubernetes.client.rest import ApiException

from tools.kubesim import SimConfig, SimThread

pytestmark = pytest.mark.integration


def names(items: list[object]) -> list[str]:
    return sorted(i.metadata.name for i in items)  # type: ignore[attr-defined]


def test_label_selectors(kube: Kube, namespace: str) -> None:
    labels = {"a": {"app": "web", "tier": "front"}, "b": {"app": "web"}, "c": {"app": "db"}}
    for name, lab in labels.items():
        kube.core.create_namespaced_pod(namespace, pod_body(name, labels=lab, scheduler_name="x"))
    cases = {
        "app=web": ["a", "b"],
        "app==web": ["a", "b"],
        "app!=web": ["c"],
        "app in (db, cache)": ["c"],
        "app notin (db)": ["a", "b"],
        "tier": ["a"],
        "!tier": ["b", "c"],
        "app=web,!tier": ["b"],
    }
    for selector, expected in cases.items():
        found = kube.core.list_namespaced_pod(namespace, label_selector=selector).items
        assert names(found) == expected, selector


def test_field_selectors(kube: Kube, namespace: str) -> None:
    nodes = kube.core.list_node().items
    target = nodes[0].metadata.name
    kube.core.create_namespaced_pod(namespace, pod_body("bound", node_name=target))
    kube.core.create_namespaced_pod(namespace, pod_body("waiting", scheduler_name="x"))
    wait_for(lambda: kube.core.read_namespaced_pod("bound", namespace).status.phase == "Running")
    on_node = kube.core.list_namespaced_pod(namespace, field_selector=f"spec.nodeName={target}")
    assert names(on_node.items) == ["bound"]
    unbound = kube.core.list_namespaced_pod(namespace, field_selector="spec.nodeName=")
    assert names(unbound.items) == ["waiting"]
    running = kube.core.list_namespaced_pod(namespace, field_selector="status.phase=Running")
    assert names(running.items) == ["bound"]
    both = kube.core.list_pod_for_all_namespaces(
        field_selector=f"metadata.namespace={namespace},status.phase!=Running"
    )
    assert names(both.items) == ["waiting"]
    by_name = kube.core.list_node(field_selector=f"metadata.name={target}")
    assert names(by_name.items) == [target]
    schedulable = kube.core.list_node(field_selector="spec.unschedulable!=true")
    assert len(schedulable.items) == len(nodes)


def test_pagination_walks_every_node(kube: Kube) -> None:
    everything = names(kube.core.list_node().items)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = kube.core.list_node(limit=3, _continue=token)
        seen += [n.metadata.name for n in page.items]
        pages += 1
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count == len(everything) - len(seen)
    assert seen == everything
    assert pages == 2


def test_continue_is_a_consistent_snapshot(kube: Kube, namespace: str) -> None:
    for i in range(4):
        kube.core.create_namespaced_pod(namespace, pod_body(f"p{i}", scheduler_name="x"))
    first = kube.core.list_namespaced_pod(namespace, limit=2)
    kube.core.delete_namespaced_pod("p3", namespace)
    kube.core.create_namespaced_pod(namespace, pod_body("p4", scheduler_name="x"))
    rest = kube.core.list_namespaced_pod(namespace, limit=10, _continue=first.metadata._continue)
    assert names(rest.items) == ["p2", "p3"]
    assert rest.metadata.resource_version == first.metadata.resource_version


@pytest.fixture(scope="module")
def short_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    out: Path = tmp_path_factory.mktemp("short")
    cfg = SimConfig(clusters=1, nodes=6, history_size=20, controllers=False)
    with SimThread(cfg, out):
        yield kube_for(out / "c1.kubeconfig")


def test_expired_continue_is_410(short_history: Kube) -> None:
    kube = short_history
    first = kube.core.list_node(limit=2)
    for i in range(25):
        kube.core.patch_node(f"c1-node-0000{i % 6}", {"metadata": {"labels": {"n": str(i)}}})
    with pytest.raises(ApiException) as err:
        kube.core.list_node(limit=2, _continue=first.metadata._continue)
    assert err.value.status == 410
    assert '"reason":"Expired"' in err.value.body
