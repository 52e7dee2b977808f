"""Driving a running kubesim from another process, through its admin API.

The admin URL is read from `clusters.json` in the simulator's directory, which the serving
process writes at start-up.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path


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
