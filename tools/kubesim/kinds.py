"""Per-kind rules: validation (422 causes), defaulting and what a create resets."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tools.kubesim.errors import invalid
from tools.kubesim.resources import ResourceType

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
Cause = tuple[str, str, str]


def _name_causes(rt: ResourceType, name: str) -> list[Cause]:
    if not name:
        return [
            (
                "FieldValueRequired",
                "metadata.name",
                "Required value: name or generateName is required",
            )
        ]
    label = rt.plural == "namespaces"
    pattern, limit = (DNS1123_LABEL, 63) if label else (DNS1123_SUBDOMAIN, 253)
    if len(name) > limit or not pattern.match(name):
        what = "RFC 1123 label" if label else "RFC 1123 subdomain"
        return [
            (
                "FieldValueInvalid",
                "metadata.name",
                f'Invalid value: "{name}": a lowercase {what} must consist of lower case '
                "alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character",
            )
        ]
    return []


def _container_causes(spec: Any, path: str) -> list[Cause]:
    if not isinstance(spec, dict):
        return [("FieldValueRequired", path, "Required value")]
    containers = spec.get("containers")
    if not containers:
        return [("FieldValueRequired", f"{path}.containers", "Required value")]
    causes: list[Cause] = []
    for i, container in enumerate(containers):
        where = f"{path}.containers[{i}]"
        if not isinstance(container, dict) or not container.get("name"):
            causes.append(("FieldValueRequired", f"{where}.name", "Required value"))
        elif not container.get("image"):
            causes.append(("FieldValueRequired", f"{where}.image", "Required value"))
    return causes


def _deployment_causes(obj: dict[str, Any]) -> list[Cause]:
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    causes = _container_causes(template.get("spec"), "spec.template.spec")
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not spec.get("selector"):
        causes.append(("FieldValueRequired", "spec.selector", "Required value"))
    elif any(labels.get(k) != v for k, v in selector.items()):
        causes.append(
            (
                "FieldValueInvalid",
                "spec.template.metadata.labels",
                "Invalid value: `selector` does not match template `labels`",
            )
        )
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or replicas < 0:
        causes.append(("FieldValueInvalid", "spec.replicas", "Invalid value: must be >= 0"))
    return causes


_SPEC_CAUSES: dict[str, Callable[[dict[str, Any]], list[Cause]]] = {
    "pods": lambda obj: _container_causes(obj.get("spec"), "spec"),
    "deployments": _deployment_causes,
    "replicasets": _deployment_causes,
}


def validate(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None = None) -> None:
    """Raise 422 Invalid listing every cause, as kube-apiserver does; `old` is the stored
    object on updates (for immutable fields)."""
    name = obj["metadata"].get("name", "")
    causes = _name_causes(rt, name)
    check = _SPEC_CAUSES.get(rt.plural)
    if check is not None:
        causes += check(obj)
    if old is not None:
        causes += _immutable_causes(rt, obj, old)
    if causes:
        raise invalid(rt.kind, name, causes, rt.group)


_POD_MUTABLE = frozenset({"activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"})


def _pod_shape(spec: dict[str, Any]) -> dict[str, Any]:
    """A pod spec without the fields an update may change (images, tolerations, ...)."""
    shape = {k: v for k, v in spec.items() if k not in _POD_MUTABLE}
    for field in ("containers", "initContainers"):
        if field in shape:
            shape[field] = [{k: v for k, v in c.items() if k != "image"} for c in shape[field]]
    return shape


def _immutable_causes(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
    if rt.plural == "pods" and _pod_shape(spec) != _pod_shape(old_spec):
        return [
            (
                "FieldValueForbidden",
                "spec",
                "Forbidden: pod updates may not change fields other than "
                "`spec.containers[*].image`, `spec.initContainers[*].image`, "
                "`spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing "
                "tolerations), `spec.terminationGracePeriodSeconds`",
            )
        ]
    if rt.plural in ("deployments", "replicasets") and spec.get("selector") != old_spec.get(
        "selector"
    ):
        return [("FieldValueInvalid", "spec.selector", "Invalid value: field is immutable")]
    return []


CONTAINER_DEFAULT_KEYS = (
    "imagePullPolicy",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "resources",
)
POD_DEFAULTS: dict[str, Any] = {
    "restartPolicy": "Always",
    "terminationGracePeriodSeconds": 30,
    "dnsPolicy": "ClusterFirst",
    "schedulerName": "default-scheduler",
    "securityContext": {},
    "priority": 0,
    "enableServiceLinks": True,
    "preemptionPolicy": "PreemptLowerPriority",
}


def _default_container(container: dict[str, Any]) -> dict[str, Any]:
    """`container` with defaults; the same dict when it has them all (pods from one template
    share their container specs, which are never mutated in place)."""
    ports = container.get("ports") or ()
    if all(k in container for k in CONTAINER_DEFAULT_KEYS) and all("protocol" in p for p in ports):
        return container
    image = str(container.get("image", ""))
    always = image.endswith(":latest") or ":" not in image.rsplit("/", 1)[-1]
    defaults: dict[str, Any] = {
        "imagePullPolicy": "Always" if always else "IfNotPresent",
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "resources": {},
    }
    out = {**defaults, **container}
    if ports:
        out["ports"] = [{"protocol": "TCP", **p} for p in ports]
    return out


def default_pod_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The defaults kube-apiserver fills into a pod spec (`spec` itself when complete)."""
    containers = spec.get("containers") or []
    defaulted = [_default_container(c) for c in containers]
    complete = all(a is b for a, b in zip(defaulted, containers, strict=True))
    if complete and "containers" in spec and all(k in spec for k in POD_DEFAULTS):
        return spec
    return {**POD_DEFAULTS, **spec, "containers": defaulted}


def _qos_class(spec: dict[str, Any]) -> str:
    resources = [c.get("resources") or {} for c in spec.get("containers") or []]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        r.get("limits")
        and all(
            r.get("limits", {}).get(k) == r.get("requests", {}).get(k, r["limits"][k])
            for k in ("cpu", "memory")
        )
        and "cpu" in r["limits"]
        and "memory" in r["limits"]
        for r in resources
    )
    return "Guaranteed" if guaranteed else "Burstable"


def _prepare_pod(obj: dict[str, Any]) -> None:
    spec = default_pod_spec(obj.get("spec") or {})
    obj["spec"] = spec
    obj["status"] = {"phase": "Pending", "qosClass": _qos_class(spec)}
    obj["metadata"]["generation"] = 1


def default_strategy(given: Any) -> dict[str, Any]:
    """RollingUpdate with 25% surge and unavailability unless told otherwise."""
    strategy: dict[str, Any] = dict(given or {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = {
            "maxUnavailable": "25%",
            "maxSurge": "25%",
            **(strategy.get("rollingUpdate") or {}),
        }
        strategy["rollingUpdate"] = rolling
    return strategy


def _prepare_deployment(obj: dict[str, Any]) -> None:
    spec = dict(obj.get("spec") or {})
    spec.setdefault("replicas", 1)
    spec["strategy"] = default_strategy(spec.get("strategy"))
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    template = dict(spec.get("template") or {})
    template["spec"] = default_pod_spec(template.get("spec") or {})
    spec["template"] = template
    obj["spec"] = spec
    obj["status"] = {}
    obj["metadata"]["generation"] = 1


def _prepare_replicaset(obj: dict[str, Any]) -> None:
    spec = dict(obj.get("spec") or {})
    spec.setdefault("replicas", 1)
    template = dict(spec.get("template") or {})
    template["spec"] = default_pod_spec(template.get("spec") or {})
    spec["template"] = template
    obj["spec"] = spec
    obj["status"] = {"replicas": 0}
    obj["metadata"]["generation"] = 1


def _prepare_namespace(obj: dict[str, Any]) -> None:
    meta = obj["metadata"]
    meta["labels"] = {**(meta.get("labels") or {}), "kubernetes.io/metadata.name": meta["name"]}
    obj["spec"] = {"finalizers": ["kubernetes"]}
    obj["status"] = {"phase": "Active"}


def _prepare_node(obj: dict[str, Any]) -> None:
    obj.setdefault("spec", {})
    obj.setdefault("status", {})


_PREPARE_CREATE: dict[str, Callable[[dict[str, Any]], None]] = {
    "pods": _prepare_pod,
    "deployments": _prepare_deployment,
    "replicasets": _prepare_replicaset,
    "namespaces": _prepare_namespace,
    "nodes": _prepare_node,
}


def prepare_create(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Apply create-time defaulting and status reset in place on a freshly decoded object."""
    prepare = _PREPARE_CREATE.get(rt.plural)
    if prepare is not None:
        prepare(obj)


def prepare_update(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Apply update-time defaulting (the same defaults a create applies to the spec)."""
    if rt.plural == "pods" and isinstance(obj.get("spec"), dict):
        obj["spec"] = default_pod_spec(obj["spec"])
    elif rt.plural in ("deployments", "replicasets") and isinstance(obj.get("spec"), dict):
        spec = dict(obj["spec"])
        spec.setdefault("replicas", 1)
        if rt.plural == "deployments":
            spec["strategy"] = default_strategy(spec.get("strategy"))
        template = dict(spec.get("template") or {})
        template["spec"] = default_pod_spec(template.get("spec") or {})
        spec["template"] = template
        obj["spec"] = spec
