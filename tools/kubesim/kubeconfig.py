"""Kubeconfig files for the simulated clusters (token auth over plain HTTP on loopback)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

TOKEN = "kubesim"


def kubeconfig(name: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": url}}],
        "users": [{"name": f"{name}-admin", "user": {"token": TOKEN}}],
        "contexts": [
            {
                "name": name,
                "context": {"cluster": name, "user": f"{name}-admin", "namespace": "default"},
            }
        ],
        "current-context": name,
        "preferences": {},
    }


def write_kubeconfig(directory: Path, name: str, url: str) -> Path:
    """Write `<directory>/<name>.kubeconfig` atomically and return its path."""
    path = directory / f"{name}.kubeconfig"
    tmp = path.with_suffix(".kubeconfig.tmp")
    tmp.write_text(yaml.safe_dump(kubeconfig(name, url), sort_keys=False))
    tmp.replace(path)
    return path
