"""Builders of clusters, snapshots and requests for the scheduler tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.keys import Keys
from fed.v1 import federation_pb2, types_pb2
from proxy.known_records import KnownRecords
from proxy.ledger import Ledger
from proxy.requests import Call, digest
from proxy.scheduler.batcher import Pending
from proxy.scheduler.engine import Engine
from proxy.scheduler.model import ClusterView, Holding, PlacementRequest, Snapshot
from proxy.scheduler.resources import ZERO, Quantity
from proxy.write_round import Prepared, RoundPlanner
from tools.bench.planner import UnsavedAnswers

GI = 1 << 30


@dataclass(frozen=True)
class Fake:
    """One cluster's spec, status and health, with readable defaults."""

    name: str
    region: str = "eu"
    zone: str = "eu-a"
    nodes: int = 4
    node_cpu: int = 8000
    node_memory: int = 32 * GI
    node_pods: int = 110
    foreign: Quantity = ZERO
    state: types_pb2.AdminState.ValueType = types_pb2.ADMIN_STATE_ACTIVE
    health: types_pb2.ClusterHealth.ValueType = types_pb2.CLUSTER_HEALTH_READY
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[tuple[str, str, str], ...] = ()
    overcommit: float = 0.0
    with_status: bool = True
    with_grades: bool = True
    latency_ms: float = 20.0
    error_rate: float = 0.0
    nodes_ready: int | None = None
    hot_ratio: float = 0.0
    peak: float = 0.0
    fragmentation: float = 0.0
    reservation_pods: dict[str, int] = field(default_factory=dict)

    def spec(self) -> types_pb2.ClusterSpec:
        return types_pb2.ClusterSpec(
            name=self.name,
            region=self.region,
            zone=self.zone,
            labels=self.labels,
            taints=[types_pb2.Taint(key=k, value=v, effect=e) for k, v, e in self.taints],
            state=self.state,
            overcommit=self.overcommit,
        )

    def status(self) -> types_pb2.ClusterStatus | None:
        if not self.with_status:
            return None
        allocatable = Quantity(
            self.node_cpu * self.nodes,
            self.node_memory * self.nodes,
            0,
            self.node_pods * self.nodes,
        )
        grades = []
        if self.with_grades:
            free = Quantity(self.node_cpu, self.node_memory, 0, self.node_pods)
            grades = [_grade(free, self.nodes)]
        return types_pb2.ClusterStatus(
            cluster=self.name,
            reachable=True,
            allocatable=allocatable.to_proto(),
            foreign_requested=self.foreign.to_proto(),
            usage_peak=allocatable.scaled(self.peak).to_proto(),
            nodes_total=self.nodes,
            nodes_ready=self.nodes if self.nodes_ready is None else self.nodes_ready,
            hot_node_ratio=self.hot_ratio,
            fragmentation_index=self.fragmentation,
            api_latency_p99_ms=self.latency_ms,
            api_error_rate=self.error_rate,
            node_grades=grades,
            reservation_pods=self.reservation_pods,
        )

    def view(self) -> ClusterView:
        return ClusterView.build(self.spec(), self.status(), self.health)


def _grade(free: Quantity, count: int) -> types_pb2.NodeGrade:
    return types_pb2.NodeGrade(
        free_cpu_millis=free.cpu_millis,
        free_memory_bytes=free.memory_bytes,
        free_gpu=free.gpu,
        free_pods=free.pods,
        count=count,
    )


def fleet(*clusters: Fake) -> Snapshot:
    statuses = {item.name: status for item in clusters if (status := item.status()) is not None}
    return Snapshot.build(
        [item.spec() for item in clusters], statuses, {item.name: item.health for item in clusters}
    )


def request(
    replicas: int = 1,
    cpu: int = 1000,
    memory: int = GI,
    workload: str = "team/app",
    current: dict[str, int] | None = None,
    evacuate: tuple[str, ...] = (),
    priority: int = 0,
    **policy: object,
) -> PlacementRequest:
    holdings = tuple(
        Holding(cluster, count, f"old-{cluster}") for cluster, count in (current or {}).items()
    )
    return PlacementRequest(
        workload=workload,
        shape=Quantity(cpu, memory, 0, 1),
        replicas=replicas,
        policy=types_pb2.PlacementPolicy(**policy),  # type: ignore[arg-type]
        priority=priority,
        current=holdings,
        evacuate=frozenset(evacuate),
        request_id="req-1",
    )


def reservation(
    cluster: str,
    replicas: int,
    cpu: int = 1000,
    memory: int = GI,
    rid: str = "",
    workload: str = "team/other",
) -> types_pb2.Reservation:
    return types_pb2.Reservation(
        id=rid or f"r-{cluster}-{replicas}",
        cluster=cluster,
        workload=workload,
        replicas=replicas,
        per_replica=types_pb2.Resources(cpu_millis=cpu, memory_bytes=memory, pods=1),
    )


Part = tuple[str, int, "types_pb2.WorkloadPhase.ValueType"]


def workload_record(*parts: Part) -> types_pb2.Workload:
    """Workload team/web (1 cpu, 1 GiB per replica) with these (cluster, replicas, phase)
    parts, each backed by reservation r-<cluster>."""
    spec = types_pb2.WorkloadSpec(
        namespace="team",
        name="web",
        replicas=sum(replicas for _, replicas, _ in parts),
        resources=types_pb2.Resources(cpu_millis=1000, memory_bytes=GI),
    )
    workload = types_pb2.Workload(spec=spec)
    for cluster, replicas, phase in parts:
        workload.placement.clusters.add(
            cluster=cluster, replicas=replicas, reservation_id=f"r-{cluster}", phase=phase
        )
    return workload


PENDING_REMOVAL = types_pb2.ClusterPlacement(
    cluster="a", replicas=0, reservation_id="r-a", phase=types_pb2.WORKLOAD_PHASE_APPLIED
)
"""Cluster a's part scaled to zero whose Deployment the binder has not removed yet."""


def with_pending_removal(*parts: Part) -> types_pb2.Workload:
    """`workload_record(*parts)` and, after them, PENDING_REMOVAL."""
    workload = workload_record(*parts)
    workload.placement.clusters.append(PENDING_REMOVAL)
    return workload


def ledger_for(workload: types_pb2.Workload) -> Ledger:
    """Reservations of the parts that hold replicas (scaling a part to zero released its)."""
    name = f"{workload.spec.namespace}/{workload.spec.name}"
    return Ledger(
        reservation(p.cluster, p.replicas, rid=p.reservation_id, workload=name)
        for p in workload.placement.clusters
        if p.replicas > 0
    )


KEYS = Keys("/t")


def planner_for(workload: types_pb2.Workload, *clusters: Fake) -> RoundPlanner:
    """A writer's RoundPlanner holding `workload` and its reservations, over `clusters`."""
    snapshot = fleet(*clusters)
    return RoundPlanner(
        KEYS,
        Engine(),
        ledger_for(workload),
        {(workload.spec.namespace, workload.spec.name): workload},
        UnsavedAnswers(KEYS),
        lambda: snapshot,
        KnownRecords(),
    )


def plan_scale(workload: types_pb2.Workload, replicas: int, *clusters: Fake) -> Prepared:
    """One ScaleWorkload of `workload` planned by a RoundPlanner over `clusters` (in a loop)."""
    key = (workload.spec.namespace, workload.spec.name)
    planner = planner_for(workload, *clusters)
    request = federation_pb2.ScaleWorkloadRequest(
        request_id="s-1", namespace=key[0], name=key[1], replicas=replicas
    )
    call = Call("s-1", "ScaleWorkload", digest("ScaleWorkload", request))
    item = Prepared(Pending(("ScaleWorkload", request)), call)
    planner.plan([item], epoch=1)
    return item
