"""WorkloadSpec from what a user gives: a shape, an image and placement wishes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fed.v1 import types_pb2
from tools.fedctl.errors import CliError
from tools.fedctl.quantities import format_cpu_quantity, format_memory_quantity

SPREAD_TOPOLOGIES = ("region", "zone", "cluster")


@dataclass
class Placement:
    """Placement wishes, from flags or from a manifest's fed.io/ annotations."""

    policy: str = ""
    spread: str = ""
    max_skew: int = 0
    min_clusters: int = 0
    max_clusters: int = 0
    gang: bool = False
    allow_partial: bool = False
    regions: list[str] = field(default_factory=list)

    def to_proto(self) -> types_pb2.PlacementPolicy:
        if self.spread and self.spread not in SPREAD_TOPOLOGIES:
            raise CliError(f"bad spread {self.spread!r}: expected one of region, zone, cluster")
        for name in ("max_skew", "min_clusters", "max_clusters"):
            if getattr(self, name) < 0:
                raise CliError(f"{name.replace('_', '-')} must be >= 0")
        spread = types_pb2.SpreadConstraint(topology=self.spread, max_skew=self.max_skew)
        return types_pb2.PlacementPolicy(
            name=self.policy,
            spread=spread if self.spread else None,
            min_clusters=self.min_clusters,
            max_clusters=self.max_clusters,
            gang=self.gang,
            allow_partial=self.allow_partial,
            regions=self.regions,
        )


def deployment(name: str, image: str, cpu_millis: int, memory: int) -> dict[str, Any]:
    """A minimal apps/v1 Deployment whose one container requests the shape."""
    requests = {"cpu": format_cpu_quantity(cpu_millis), "memory": format_memory_quantity(memory)}
    container = {"name": name, "image": image, "resources": {"requests": requests}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"containers": [container]}}},
    }


def workload_spec(
    namespace: str,
    name: str,
    replicas: int,
    cpu_millis: int,
    memory: int,
    template: dict[str, Any],
    placement: Placement,
    priority: int = 0,
    labels: dict[str, str] | None = None,
) -> types_pb2.WorkloadSpec:
    return types_pb2.WorkloadSpec(
        namespace=namespace,
        name=name,
        replicas=replicas,
        resources=types_pb2.Resources(cpu_millis=cpu_millis, memory_bytes=memory),
        template_json=json.dumps(template, sort_keys=True),
        priority=priority,
        policy=placement.to_proto(),
        labels=labels or {},
    )
