"""A minimal OpenAPI v3 surface: enough for kubectl to see that the server validates fields
itself (the `fieldValidation` parameter) and skip client-side schema validation."""

from __future__ import annotations

import hashlib
from typing import Any

from tools.kubesim.resources import STORED, ResourceType

INFO = {"title": "Kubernetes", "version": "v1.31.0-kubesim"}


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _gv_hash(path: str) -> str:
    return hashlib.sha256(path.encode()).hexdigest()[:16].upper()


def root() -> dict[str, Any]:
    """`/openapi/v3`: where each group-version's document lives."""
    paths = {}
    for rt in STORED:
        path = _gv_path(rt.group, rt.version)
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={_gv_hash(path)}"}
    return {"paths": paths}


def _operation(rt: ResourceType) -> dict[str, Any]:
    return {
        "x-kubernetes-group-version-kind": {
            "group": rt.group,
            "version": rt.version,
            "kind": rt.kind,
        },
        "parameters": [
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
            {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
        ],
        "responses": {"200": {"description": "OK"}},
    }


def group_version(path: str) -> dict[str, Any] | None:
    """`/openapi/v3/<api/v1 | apis/group/version>`; None for an unknown group-version."""
    paths: dict[str, Any] = {}
    for rt in STORED:
        if _gv_path(rt.group, rt.version) != path:
            continue
        scope = "/namespaces/{namespace}" if rt.namespaced else ""
        op = _operation(rt)
        paths[f"/{path}{scope}/{rt.plural}"] = {"post": op}
        paths[f"/{path}{scope}/{rt.plural}/{{name}}"] = {"put": op, "patch": op}
    if not paths:
        return None
    return {"openapi": "3.0.0", "info": INFO, "paths": paths, "components": {"schemas": {}}}
