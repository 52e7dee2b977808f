"""The engine's input: frozen views of clusters, the fleet snapshot and placement requests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from fed.v1 import types_pb2
from proxy.scheduler.resources import Quantity

REGION_LABEL = "topology.kubernetes.io/region"
ZONE_LABEL = "topology.kubernetes.io/zone"


@dataclass(frozen=True)
class ClusterView:
    """One cluster as the scheduler sees it: spec, latest status (maybe none) and health."""

    spec: types_pb2.ClusterSpec
    status: types_pb2.ClusterStatus | None
    health: types_pb2.ClusterHealth.ValueType
    labels: Mapping[str, str] = field(default_factory=dict)
    name: str = field(init=False)
    """The spec's name, kept as a plain attribute: the scheduler reads it per cluster per
    request, and a protobuf field read costs several times a Python attribute read."""
    name_bytes: bytes = field(init=False, repr=False)
    """The name encoded, for the per-request tie-break hash."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.spec.name)
        object.__setattr__(self, "name_bytes", self.spec.name.encode())

    @classmethod
    def build(
        cls,
        spec: types_pb2.ClusterSpec,
        status: types_pb2.ClusterStatus | None,
        health: types_pb2.ClusterHealth.ValueType,
    ) -> ClusterView:
        labels = dict(spec.labels)
        if spec.region:
            labels.setdefault(REGION_LABEL, spec.region)
        if spec.zone:
            labels.setdefault(ZONE_LABEL, spec.zone)
        return cls(spec, status, health, labels)

    @property
    def region(self) -> str:
        return self.spec.region

    @property
    def zone(self) -> str:
        return self.spec.zone

    def topology(self, key: str) -> str:
        """The cluster's group for a spread topology: region, zone or cluster."""
        if key == "region":
            return self.region
        if key == "zone":
            return self.zone
        return self.name


@dataclass(frozen=True)
class Snapshot:
    """The fleet at one moment, clusters in name order."""

    clusters: tuple[ClusterView, ...]

    @classmethod
    def build(
        cls,
        specs: Iterable[types_pb2.ClusterSpec],
        statuses: Mapping[str, types_pb2.ClusterStatus],
        health: Mapping[str, types_pb2.ClusterHealth.ValueType],
        previous: Snapshot | None = None,
    ) -> Snapshot:
        """With `previous`, its views are reused where spec, status and health are the same
        objects and value: the engine keeps per-cluster results keyed on the view."""
        reusable = {view.name: view for view in previous.clusters} if previous else {}
        views = []
        for spec in specs:
            status = statuses.get(spec.name)
            state = health.get(spec.name, types_pb2.CLUSTER_HEALTH_UNKNOWN)
            old = reusable.get(spec.name)
            if old is not None and (old.spec, old.status, old.health) == (spec, status, state):
                views.append(old)
            else:
                views.append(ClusterView.build(spec, status, state))
        return cls(tuple(sorted(views, key=lambda view: view.name)))

    def names(self) -> list[str]:
        return [view.name for view in self.clusters]


@dataclass(init=False, unsafe_hash=True)
class Holding:
    """Replicas a workload holds on one cluster, and the reservation backing them."""

    cluster: Final[str]
    replicas: Final[int]
    reservation_id: Final[str]

    def __init__(self, cluster: str, replicas: int, reservation_id: str = "") -> None:
        self.cluster = cluster
        self.replicas = replicas
        self.reservation_id = reservation_id


@dataclass(init=False, unsafe_hash=True)
class PlacementRequest:
    """Place (or re-place) a workload's replicas.

    `current` is what the workload holds now (scale and moves start from it); `evacuate`
    names clusters whose replicas must move elsewhere (failover and drills).
    """

    workload: Final[str]
    shape: Final[Quantity]
    replicas: Final[int]
    policy: Final[types_pb2.PlacementPolicy]
    priority: Final[int]
    current: Final[tuple[Holding, ...]]
    evacuate: Final[frozenset[str]]
    request_id: Final[str]
    policy_key: Final[bytes]
    """The policy message's deterministic bytes: the engine resolves a policy by them several
    times per request (see RequestPolicies), so they are taken once."""

    def __init__(
        self,
        workload: str,
        shape: Quantity,
        replicas: int,
        policy: types_pb2.PlacementPolicy,
        priority: int = 0,
        current: tuple[Holding, ...] = (),
        evacuate: frozenset[str] = frozenset(),
        request_id: str = "",
    ) -> None:
        self.workload = workload
        self.shape = shape
        self.replicas = replicas
        self.policy = policy
        self.priority = priority
        self.current = current
        self.evacuate = evacuate
        self.request_id = request_id
        self.policy_key = policy.SerializeToString(deterministic=True)

    @classmethod
    def from_spec(
        cls,
        spec: types_pb2.WorkloadSpec,
        current: types_pb2.Placement | None = None,
        evacuate: Iterable[str] = (),
        request_id: str = "",
    ) -> PlacementRequest:
        holdings = tuple(
            Holding(item.cluster, item.replicas, item.reservation_id)
            for item in (current.clusters if current is not None else ())
            if item.replicas > 0
        )
        return cls(
            workload=f"{spec.namespace}/{spec.name}",
            shape=Quantity.shape(spec.resources),
            replicas=spec.replicas,
            policy=spec.policy,
            priority=spec.priority,
            current=holdings,
            evacuate=frozenset(evacuate),
            request_id=request_id,
        )

    def kept(self) -> dict[str, int]:
        """Replicas that stay where they are: the current placement minus evacuated clusters."""
        kept: dict[str, int] = {}
        for holding in self.current:
            if holding.cluster not in self.evacuate:
                kept[holding.cluster] = kept.get(holding.cluster, 0) + holding.replicas
        return kept

    def held(self) -> dict[str, int]:
        """Replicas per cluster in the current placement, evacuated clusters included."""
        held: dict[str, int] = {}
        for holding in self.current:
            held[holding.cluster] = held.get(holding.cluster, 0) + holding.replicas
        return held
