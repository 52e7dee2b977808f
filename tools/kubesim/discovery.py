"""Discovery documents (/version, /api, /apis, per group-version) as kubectl expects them."""

from __future__ import annotations

from typing import Any

from tools.kubesim.resources import RESOURCES, group_versions

KUBE_VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-kubesim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-08-13T00:00:00Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def version() -> dict[str, Any]:
    return dict(KUBE_VERSION)


def core_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_groups() -> dict[str, Any]:
    groups = []
    for group, version in group_versions():
        if not group:
            continue
        gv = {"groupVersion": f"{group}/{version}", "version": version}
        groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def resource_list(group: str, version: str) -> dict[str, Any] | None:
    """The APIResourceList of one group-version, subresources included; None if unknown."""
    if (group, version) not in group_versions():
        return None
    resources: list[dict[str, Any]] = []
    for r in RESOURCES:
        if (r.group, r.version) != (group, version):
            continue
        main = {
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": list(r.verbs),
        }
        if r.short_names:
            main["shortNames"] = list(r.short_names)
        if r.categories:
            main["categories"] = list(r.categories)
        resources.append(main)
        for sub in r.subresources:
            resources.append(_subresource(r.plural, r.namespaced, r.kind, sub))
    gv = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }


def _subresource(plural: str, namespaced: bool, kind: str, sub: str) -> dict[str, Any]:
    verbs = {"status": ["get", "patch", "update"], "scale": ["get", "patch", "update"]}
    sub_kind = {"scale": "Scale", "binding": "Binding"}.get(sub, kind)
    entry: dict[str, Any] = {
        "name": f"{plural}/{sub}",
        "singularName": "",
        "namespaced": namespaced,
        "kind": sub_kind,
        "verbs": verbs.get(sub, ["create"] if sub == "binding" else ["update"]),
    }
    if sub == "scale":
        entry["group"] = "autoscaling"
        entry["version"] = "v1"
    return entry
