"""`fedctl workload apply -f`: a plain Kubernetes Deployment plus placement annotations
(fed.io/policy, fed.io/spread, fed.io/max-skew, fed.io/min-clusters, fed.io/max-clusters,
fed.io/gang, fed.io/allow-partial, fed.io/regions, fed.io/priority). The per-replica shape
comes from the first container's requests; the manifest without its replicas (which the
federation divides) becomes template_json."""

from __future__ import annotations

from typing import Any

import yaml

from fed.v1 import types_pb2
from tools.fedctl.errors import CliError
from tools.fedctl.quantities import QuantityError, cpu_millis, memory_bytes
from tools.fedctl.spec import Placement, workload_spec

PREFIX = "fed.io/"
_INTS = ("max-skew", "min-clusters", "max-clusters", "priority")
_BOOLS = ("gang", "allow-partial")
_STRINGS = ("policy", "spread", "regions")
KNOWN = {PREFIX + key for key in (*_INTS, *_BOOLS, *_STRINGS)}


def load(text: str, source: str) -> dict[str, Any]:
    """The one Deployment in the YAML or JSON document."""
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as error:
        raise CliError(f"{source} is not YAML: {' '.join(str(error).split())}") from error
    if len(documents) != 1:
        raise CliError(f"{source} must hold exactly one Deployment, found {len(documents)} objects")
    (document,) = documents
    if not isinstance(document, dict) or document.get("kind") != "Deployment":
        raise CliError(f"{source}: kind must be Deployment")
    if document.get("apiVersion") != "apps/v1":
        raise CliError(f"{source}: apiVersion must be apps/v1")
    return document


def to_spec(manifest: dict[str, Any], namespace: str | None, source: str) -> types_pb2.WorkloadSpec:
    metadata = _mapping(manifest.get("metadata"), f"{source}: metadata")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise CliError(f"{source}: metadata.name is required")
    annotations = _mapping(metadata.get("annotations"), f"{source}: metadata.annotations")
    unknown = sorted(k for k in annotations if k.startswith(PREFIX) and k not in KNOWN)
    if unknown:
        known = ", ".join(sorted(KNOWN))
        raise CliError(f"{source}: unknown annotation {unknown[0]} (known: {known})")
    spec = _mapping(manifest.get("spec"), f"{source}: spec")
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or replicas < 0:
        raise CliError(f"{source}: spec.replicas must be a whole number >= 0")
    cpu, memory = _requests(spec, source)
    ints = {key: _int(annotations, key, source) for key in _INTS}
    placement = Placement(
        policy=str(annotations.get(PREFIX + "policy", "")),
        spread=str(annotations.get(PREFIX + "spread", "")),
        max_skew=ints["max-skew"],
        min_clusters=ints["min-clusters"],
        max_clusters=ints["max-clusters"],
        gang=_bool(annotations, "gang", source),
        allow_partial=_bool(annotations, "allow-partial", source),
        regions=[r.strip() for r in str(annotations.get(PREFIX + "regions", "")).split(",") if r],
    )
    labels = {str(k): str(v) for k, v in _mapping(metadata.get("labels"), source).items()}
    template = {**manifest, "spec": {k: v for k, v in spec.items() if k != "replicas"}}
    return workload_spec(
        namespace or str(metadata.get("namespace") or "default"),
        name, replicas, cpu, memory, template, placement, ints["priority"], labels,
    )  # fmt: skip


def _requests(spec: dict[str, Any], source: str) -> tuple[int, int]:
    path = "spec.template.spec.containers[0].resources.requests"
    try:
        container = spec["template"]["spec"]["containers"][0]
        requests = container["resources"]["requests"]
        return cpu_millis(str(requests["cpu"])), memory_bytes(str(requests["memory"]))
    except (KeyError, IndexError, TypeError) as error:
        raise CliError(f"{source}: {path} needs cpu and memory") from error
    except QuantityError as error:
        raise CliError(f"{source}: {path}: {error}") from error


def _mapping(value: object, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CliError(f"{what} must be a mapping")
    return value


def _int(annotations: dict[str, Any], key: str, source: str) -> int:
    raw = str(annotations.get(PREFIX + key, "0"))
    if not raw.isdigit():
        raise CliError(f"{source}: annotation {PREFIX}{key} must be a whole number, not {raw!r}")
    return int(raw)


def _bool(annotations: dict[str, Any], key: str, source: str) -> bool:
    raw = str(annotations.get(PREFIX + key, "false")).lower()
    if raw not in ("true", "false"):
        raise CliError(f"{source}: annotation {PREFIX}{key} must be true or false, not {raw!r}")
    return raw == "true"
