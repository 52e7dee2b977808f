"""Fault injection: outages keep state, watchers resume without losing events, latency,
error rate and NotReady nodes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from integration.kubesim.kubesim_support import Kube, kube_for, pod_body, wait_for
from kubernetes import watch
from kubernetes.client.rest import ApiException

from tools.kubesim import SimConfig, SimThread

pytestmark = pytest.mark.integration
DROPS = (ApiException, urllib3.exceptions.HTTPError, ConnectionError)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimThread]:
    cfg = SimConfig(clusters=1, nodes=4, kubelet_delay=0.05, tick=0.01)
    with SimThread(cfg, tmp_path) as running:
        yield running


@pytest.fixture
def kube(sim: SimThread, tmp_path: Path) -> Kube:
    kube = kube_for(tmp_path / "c1.kubeconfig")
    kube.api.configuration.retries = 0
    return kube


class Follower:
    """A watch loop that resumes from the last resourceVersion it saw, like an informer."""

    def __init__(self, kube: Kube, resource_version: str) -> None:
        self.kube = kube
        self.rv = resource_version
        self.seen: list[tuple[str, str]] = []
        self.drops = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                stream = watch.Watch().stream(
                    self.kube.core.list_namespaced_pod,
                    "default",
                    resource_version=self.rv,
                    timeout_seconds=2,
                    _request_timeout=5,
                )
                for event in stream:
                    self.rv = event["object"].metadata.resource_version
                    self.seen.append((event["type"], event["object"].metadata.name))
            except DROPS:
                self.drops += 1
                self.stop.wait(0.05)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)


def test_down_and_up_keep_state_and_port(sim: SimThread, kube: Kube) -> None:
    kube.core.create_namespaced_pod("default", pod_body("survivor", scheduler_name="x"))
    url = sim.url("c1")
    sim.fault("c1", "down")
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        kube.core.read_namespaced_pod("survivor", "default")
    sim.fault("c1", "up")
    assert sim.url("c1") == url
    assert kube.core.read_namespaced_pod("survivor", "default").metadata.name == "survivor"


def test_watcher_resumes_after_drops_without_losing_events(sim: SimThread, kube: Kube) -> None:
    start = kube.core.list_namespaced_pod("default").metadata.resource_version
    follower = Follower(kube, start)
    try:
        kube.core.create_namespaced_pod("default", pod_body("a", scheduler_name="x"))
        wait_for(lambda: ("ADDED", "a") in follower.seen)
        sim.fault("c1", "drop-watches")
        kube.core.create_namespaced_pod("default", pod_body("b", scheduler_name="x"))
        sim.fault("c1", "down")
        sim.run(sim.clusters["c1"].registry.create, *create_args("c"))
        sim.fault("c1", "up")
        wait_for(lambda: len(follower.seen) >= 3)
    finally:
        follower.close()
    assert follower.seen == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]
    assert follower.drops >= 1


def create_args(name: str) -> tuple[object, ...]:
    from tools.kubesim.resources import PODS

    body = {
        "metadata": {"name": name},
        "spec": {"schedulerName": "x", "containers": [{"name": "app", "image": "nginx"}]},
    }
    return PODS, "default", body


def test_latency_and_error_rate(sim: SimThread, kube: Kube) -> None:
    sim.fault("c1", "latency", "150ms")
    began = time.monotonic()
    kube.core.list_node()
    assert time.monotonic() - began >= 0.15
    sim.fault("c1", "latency", "0ms")
    sim.fault("c1", "error-rate", "100%")
    with pytest.raises(ApiException) as err:
        kube.core.list_node()
    assert err.value.status == 500
    sim.fault("c1", "error-rate", "0%")
    assert len(kube.core.list_node().items) == 4


def test_forbid_creates(sim: SimThread, kube: Kube) -> None:
    sim.fault("c1", "forbid-creates")
    with pytest.raises(ApiException) as err:
        kube.core.create_namespaced_pod("default", pod_body("refused"))
    assert err.value.status == 403
    assert "Forbidden" in str(err.value.body)
    assert len(kube.core.list_node().items) == 4, "reads are served"
    sim.fault("c1", "clear")
    kube.core.create_namespaced_pod("default", pod_body("accepted"))


def test_nodes_notready(sim: SimThread, kube: Kube) -> None:
    kube.core.create_namespaced_pod("default", pod_body("before"))
    wait_for(lambda: kube.core.read_namespaced_pod("before", "default").status.phase == "Running")
    sim.fault("c1", "nodes-notready", "50%")

    def ready_count() -> int:
        nodes = kube.core.list_node().items
        return sum(
            1
            for n in nodes
            for c in n.status.conditions
            if c.type == "Ready" and c.status == "True"
        )

    assert ready_count() == 2
    tainted = [n for n in kube.core.list_node().items if n.spec.taints]
    assert {t.key for n in tainted for t in n.spec.taints} == {"node.kubernetes.io/unreachable"}
    for i in range(4):
        kube.core.create_namespaced_pod("default", pod_body(f"after-{i}"))
    wait_for(
        lambda: all(
            kube.core.read_namespaced_pod(f"after-{i}", "default").spec.node_name for i in range(4)
        )
    )
    ready_nodes = {n.metadata.name for n in kube.core.list_node().items if not n.spec.taints}
    for i in range(4):
        assert kube.core.read_namespaced_pod(f"after-{i}", "default").spec.node_name in ready_nodes
    sim.fault("c1", "nodes-notready", "0%")
    assert ready_count() == 4


def test_admin_cli(sim: SimThread, tmp_path: Path) -> None:
    from tools.kubesim.cli import main

    assert main(["fault", "--dir", str(tmp_path), "--cluster", "c1", "latency", "20ms"]) == 0
    assert sim.clusters["c1"].faults.latency == pytest.approx(0.02)
    assert main(["fault", "--dir", str(tmp_path), "--cluster", "c1", "clear"]) == 0
    assert sim.clusters["c1"].faults.latency == 0
