"""Watch: initial state, resume by resourceVersion, 410 Expired, bookmarks, selectors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integration.kubesim.kubesim_support import Kube, kube_for, pod_body
from kubernetes import watch
from kubernetes.client.rest import ApiException

from tools.kubesim import SimConfig, SimThread

pytestmark = pytest.mark.integration


def collect(stream: Iterator[dict[str, Any]], count: int) -> list[tuple[str, str]]:
    out = []
    for event in stream:
        out.append((event["type"], event["object"].metadata.name))
        if len(out) == count:
            break
    return out


def test_initial_state_then_live_events(kube: Kube, namespace: str) -> None:
    kube.core.create_namespaced_pod(namespace, pod_body("before", scheduler_name="x"))
    w = watch.Watch()
    stream = w.stream(kube.core.list_namespaced_pod, namespace, timeout_seconds=10)
    assert collect(stream, 1) == [("ADDED", "before")]
    kube.core.create_namespaced_pod(namespace, pod_body("after", scheduler_name="x"))
    kube.core.patch_namespaced_pod("after", namespace, {"metadata": {"labels": {"x": "1"}}})
    kube.core.delete_namespaced_pod("after", namespace)
    assert collect(stream, 3) == [("ADDED", "after"), ("MODIFIED", "after"), ("DELETED", "after")]
    w.stop()


def test_resume_from_resource_version(kube: Kube, namespace: str) -> None:
    listed = kube.core.list_namespaced_pod(namespace)
    for name in ("r1", "r2"):
        kube.core.create_namespaced_pod(namespace, pod_body(name, scheduler_name="x"))
    kube.core.delete_namespaced_pod("r1", namespace)
    w = watch.Watch()
    stream = w.stream(
        kube.core.list_namespaced_pod,
        namespace,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=10,
    )
    assert collect(stream, 3) == [("ADDED", "r1"), ("ADDED", "r2"), ("DELETED", "r1")]
    w.stop()


def test_selector_moves_are_added_and_deleted(kube: Kube, namespace: str) -> None:
    created = kube.core.create_namespaced_pod(namespace, pod_body("mover", scheduler_name="x"))
    w = watch.Watch()
    stream = w.stream(
        kube.core.list_namespaced_pod,
        namespace,
        label_selector="team=blue",
        resource_version=created.metadata.resource_version,
        timeout_seconds=10,
    )
    kube.core.patch_namespaced_pod("mover", namespace, {"metadata": {"labels": {"team": "blue"}}})
    kube.core.patch_namespaced_pod("mover", namespace, {"metadata": {"labels": {"team": "red"}}})
    assert collect(stream, 2) == [("ADDED", "mover"), ("DELETED", "mover")]
    w.stop()


def test_bookmarks(kube: Kube, namespace: str) -> None:
    listed = kube.core.list_namespaced_pod(namespace)
    w = watch.Watch()
    stream = w.stream(
        kube.core.list_namespaced_pod,
        namespace,
        resource_version=listed.metadata.resource_version,
        allow_watch_bookmarks=True,
        timeout_seconds=10,
    )
    event = next(iter(stream))
    assert event["type"] == "BOOKMARK"
    bookmark_rv = event["raw_object"]["metadata"]["resourceVersion"]
    assert int(bookmark_rv) >= int(listed.metadata.resource_version)
    w.stop()


def test_timeout_seconds_ends_the_stream(kube: Kube, namespace: str) -> None:
    listed = kube.core.list_namespaced_pod(namespace)
    done = threading.Event()

    def run() -> None:
        for _ in watch.Watch().stream(
            kube.core.list_namespaced_pod,
            namespace,
            resource_version=listed.metadata.resource_version,
            timeout_seconds=1,
        ):
            pass
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert done.wait(5)


@pytest.fixture(scope="module")
def short_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    out: Path = tmp_path_factory.mktemp("short-watch")
    cfg = SimConfig(clusters=1, nodes=3, history_size=10, controllers=False)
    with SimThread(cfg, out):
        yield kube_for(out / "c1.kubeconfig")


def test_expired_resource_version_is_410(short_history: Kube) -> None:
    kube = short_history
    old = kube.core.list_node().metadata.resource_version
    for i in range(12):
        kube.core.patch_node("c1-node-00000", {"metadata": {"labels": {"n": str(i)}}})
    w = watch.Watch()
    with pytest.raises(ApiException) as err:
        for _ in w.stream(kube.core.list_node, resource_version=old, timeout_seconds=5):
            pass
    assert err.value.status == 410


def test_watch_list_ends_initial_events_with_a_bookmark(kube: Kube, namespace: str) -> None:
    kube.core.create_namespaced_pod(namespace, pod_body("listed", scheduler_name="x"))
    w = watch.Watch()
    stream = w.stream(
        kube.core.list_namespaced_pod,
        namespace,
        send_initial_events=True,
        allow_watch_bookmarks=True,
        resource_version_match="NotOlderThan",
        resource_version="",
        timeout_seconds=10,
    )
    first = next(iter(stream))
    assert (first["type"], first["object"].metadata.name) == ("ADDED", "listed")
    bookmark = next(iter(stream))
    assert bookmark["type"] == "BOOKMARK"
    annotations = bookmark["raw_object"]["metadata"]["annotations"]
    assert annotations == {"k8s.io/initial-events-end": "true"}
    w.stop()
