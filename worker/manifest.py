"""The Deployment a workload becomes in a member cluster: deterministic name, labels, digest."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from worker.model import EPOCH_LABEL, RESERVATION_LABEL, WORKLOAD_LABEL, Deployment, Res

DIGEST_ANNOTATION = "fed.io/template-digest"
DEFAULT_IMAGE = "registry.k8s.io/pause:3.10"
MAX_LABEL_VALUE = 63


class ManifestError(ValueError):
    """template_json is not a usable apps/v1 Deployment manifest."""


@dataclass(frozen=True)
class WorkloadRef:
    namespace: str
    name: str
    reservation: str
    epoch: int

    @property
    def deployment(self) -> str:
        """The object name: the workload's own name, so operators recognise it."""
        return self.name

    @property
    def label(self) -> str:
        """The fed.io/workload value: `<namespace>.<name>`, hashed when too long for a label."""
        value = f"{self.namespace}.{self.name}"
        if len(value) <= MAX_LABEL_VALUE:
            return value
        digest = hashlib.sha256(value.encode()).hexdigest()[:12]
        return f"{value[: MAX_LABEL_VALUE - 13]}-{digest}"


@dataclass(frozen=True)
class Desired:
    ref: WorkloadRef
    replicas: int
    per_replica: Res
    template_json: str
    labels: dict[str, str]


def _quantities(per: Res) -> dict[str, str]:
    requests = {}
    if per.cpu:
        requests["cpu"] = f"{per.cpu}m"
    if per.memory:
        requests["memory"] = str(per.memory)
    if per.gpu:
        requests["nvidia.com/gpu"] = str(per.gpu)
    return requests


def _base(desired: Desired) -> dict[str, Any]:
    if not desired.template_json:
        container = {
            "name": "app",
            "image": DEFAULT_IMAGE,
            "resources": {"requests": _quantities(desired.per_replica)},
        }
        return {"spec": {"template": {"spec": {"containers": [container]}}}}
    try:
        base = json.loads(desired.template_json)
    except ValueError as exc:
        raise ManifestError(f"template_json is not JSON: {exc}") from exc
    if not isinstance(base, dict) or not isinstance(base.get("spec", {}), dict):
        raise ManifestError("template_json must be a Deployment object")
    template = (base.get("spec") or {}).get("template")
    if not isinstance(template, dict) or not (template.get("spec") or {}).get("containers"):
        raise ManifestError("template_json needs spec.template.spec.containers")
    return base


def digest(desired: Desired) -> str:
    """What the pod template depends on (not the epoch or replicas: those need no rollout)."""
    material = json.dumps(
        [
            desired.template_json,
            desired.ref.reservation,
            [desired.per_replica.cpu, desired.per_replica.memory, desired.per_replica.gpu],
            sorted(desired.labels.items()),
        ]
    )
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def fed_labels(ref: WorkloadRef) -> dict[str, str]:
    return {
        WORKLOAD_LABEL: ref.label,
        RESERVATION_LABEL: ref.reservation,
        EPOCH_LABEL: str(ref.epoch),
    }


def build(desired: Desired) -> dict[str, Any]:
    """The full Deployment manifest for a create."""
    manifest = copy.deepcopy(_base(desired))
    ref = desired.ref
    meta = dict(manifest.get("metadata") or {})
    meta.update(name=ref.deployment, namespace=ref.namespace)
    meta["labels"] = {**(meta.get("labels") or {}), **desired.labels, **fed_labels(ref)}
    meta["annotations"] = {**(meta.get("annotations") or {}), DIGEST_ANNOTATION: digest(desired)}
    for field in ("resourceVersion", "uid", "creationTimestamp", "generation"):
        meta.pop(field, None)
    spec = dict(manifest.get("spec") or {})
    spec["replicas"] = desired.replicas
    spec["selector"] = {"matchLabels": {WORKLOAD_LABEL: ref.label}}
    template = dict(spec["template"])
    tmeta = dict(template.get("metadata") or {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), **desired.labels, **fed_labels(ref)}
    template["metadata"] = tmeta
    spec["template"] = template
    manifest.update(apiVersion="apps/v1", kind="Deployment", metadata=meta, spec=spec)
    manifest.pop("status", None)
    return manifest


def update(existing: Deployment, desired: Desired) -> dict[str, Any] | None:
    """The manifest to PUT over `existing` (with its resourceVersion), or None if up to date.

    The pod template is replaced only when its digest changed, so a new epoch or replica
    count scales the Deployment without rolling its pods.
    """
    wanted = build(desired)
    current = copy.deepcopy(existing.manifest)
    meta = current.setdefault("metadata", {})
    spec = current.setdefault("spec", {})
    before = json.dumps([meta.get("labels"), meta.get("annotations"), spec], sort_keys=True)
    meta["labels"] = {**(meta.get("labels") or {}), **wanted["metadata"]["labels"]}
    if existing.annotations.get(DIGEST_ANNOTATION) != digest(desired):
        spec["template"] = wanted["spec"]["template"]
        meta["annotations"] = {
            **(meta.get("annotations") or {}),
            **wanted["metadata"]["annotations"],
        }
    spec["replicas"] = desired.replicas
    after = json.dumps([meta.get("labels"), meta.get("annotations"), spec], sort_keys=True)
    if before == after:
        return None
    current.pop("status", None)
    return current
