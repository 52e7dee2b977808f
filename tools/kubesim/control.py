"""Driving a running kubesim from another process, through its admin API (or, as a person at
a terminal would, through a cluster's own Kubernetes API).

The admin URL is read from `clusters.json` in the simulator's directory, which the serving
process writes at start-up.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from tools.kubesim.kubeconfig import TOKEN


def admin_call(directory: Path, path: str, body: dict[str, object] | None = None) -> object:
    """One admin request (POST when there is a body); raises urllib.error.HTTPError."""
    doc = json.loads((directory / "clusters.json").read_text())
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        doc["admin_url"] + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def set_fault(directory: Path, cluster: str, fault: str, arg: object = None) -> object:
    """Inject a fault into one cluster (`down`, `up`, `forbid-creates`, `clear`, ...)."""
    return admin_call(directory, f"/clusters/{cluster}/faults", {"fault": fault, "arg": arg})


def kube_call(url: str, method: str, path: str) -> dict[str, object] | None:
    """One request to a cluster's Kubernetes API at `url`, with the admin token; None for a
    404 Not Found (other errors raise urllib.error.HTTPError)."""
    request = urllib.request.Request(
        url + path, method=method, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            found: dict[str, object] = json.loads(response.read())
            return found
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise
