"""The resource types kubesim serves, as discovery and the router see them."""

from __future__ import annotations

from dataclasses import dataclass, field

STANDARD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One REST resource: where it lives, what it is called and what it supports."""

    plural: str
    singular: str
    kind: str
    group: str
    version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = STANDARD_VERBS
    categories: tuple[str, ...] = ()
    has_status: bool = field(default=True)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


METRICS_GROUP = "metrics.k8s.io"
METRICS_VERSION = "v1beta1"
READ_ONLY = ("get", "list")

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType(
        "namespaces", "namespace", "Namespace", "", "v1", False, ("ns",), ("status", "finalize")
    ),
    ResourceType("nodes", "node", "Node", "", "v1", False, ("no",), ("status",)),
    ResourceType(
        "pods",
        "pod",
        "Pod",
        "",
        "v1",
        True,
        ("po",),
        ("status", "binding"),
        categories=("all",),
    ),
    ResourceType("bindings", "", "Binding", "", "v1", True, verbs=("create",), has_status=False),
    ResourceType("events", "event", "Event", "", "v1", True, ("ev",), has_status=False),
    ResourceType(
        "deployments",
        "deployment",
        "Deployment",
        "apps",
        "v1",
        True,
        ("deploy",),
        ("status", "scale"),
        categories=("all",),
    ),
    ResourceType(
        "replicasets",
        "replicaset",
        "ReplicaSet",
        "apps",
        "v1",
        True,
        ("rs",),
        ("status", "scale"),
        categories=("all",),
    ),
    ResourceType(
        "nodes",
        "",
        "NodeMetrics",
        METRICS_GROUP,
        METRICS_VERSION,
        False,
        verbs=READ_ONLY,
        has_status=False,
    ),
    ResourceType(
        "pods",
        "",
        "PodMetrics",
        METRICS_GROUP,
        METRICS_VERSION,
        True,
        verbs=READ_ONLY,
        has_status=False,
    ),
)

BY_PATH: dict[tuple[str, str, str], ResourceType] = {
    (r.group, r.version, r.plural): r for r in RESOURCES
}
STORED: tuple[ResourceType, ...] = tuple(
    r for r in RESOURCES if r.group != METRICS_GROUP and r.kind != "Binding"
)
BINDINGS = next(r for r in RESOURCES if r.kind == "Binding")
BY_NAME: dict[str, ResourceType] = {r.plural: r for r in STORED}

NAMESPACES = BY_NAME["namespaces"]
NODES = BY_NAME["nodes"]
PODS = BY_NAME["pods"]
EVENTS = BY_NAME["events"]
DEPLOYMENTS = BY_NAME["deployments"]
REPLICASETS = BY_NAME["replicasets"]


def group_versions() -> list[tuple[str, str]]:
    """Every (group, version) served, core first, in a stable order."""
    seen: list[tuple[str, str]] = []
    for r in RESOURCES:
        if (r.group, r.version) not in seen:
            seen.append((r.group, r.version))
    return seen


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    return BY_PATH.get((group, version, plural))
