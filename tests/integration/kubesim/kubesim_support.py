"""Helpers shared by the kubesim integration tests (official client handles, waits)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config


@dataclass
class Kube:
    """Official-client APIs for one simulated cluster."""

    api: client.ApiClient
    core: client.CoreV1Api
    apps: client.AppsV1Api
    custom: client.CustomObjectsApi
    kubeconfig: Path


def kube_for(kubeconfig: Path) -> Kube:
    api = config.new_client_from_config(str(kubeconfig))
    return Kube(
        api, client.CoreV1Api(api), client.AppsV1Api(api), client.CustomObjectsApi(api), kubeconfig
    )


def pod_body(
    name: str,
    cpu: str = "100m",
    memory: str = "64Mi",
    labels: dict[str, str] | None = None,
    **spec: object,
) -> client.V1Pod:
    container = client.V1Container(
        name="app",
        image="nginx:1.27",
        resources=client.V1ResourceRequirements(requests={"cpu": cpu, "memory": memory}),
    )
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1PodSpec(containers=[container], **spec),
    )


def wait_for(
    condition: Callable[[], object], timeout: float = 10.0, interval: float = 0.02
) -> object:
    """Poll `condition` until it returns something truthy, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def raw_request(
    kube: Kube, path: str, method: str, body: bytes = b"", content_type: str = "application/json"
) -> tuple[int, dict[str, object]]:
    """Send a hand-made request (for cases the typed client cannot express)."""
    request = urllib.request.Request(
        kube.api.configuration.host + path,
        data=body or None,
        method=method,
        headers={"Content-Type": content_type, "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
