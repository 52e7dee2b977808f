"""Tables for each kind of answer; pure functions of the protobuf messages."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from fed.v1 import federation_pb2, types_pb2
from tools.fedctl.output import enum_name, table
from tools.fedctl.quantities import format_cpu, format_cpu_quantity, format_memory

ClusterInfo = federation_pb2.ClusterInfo


def admin_state(spec: types_pb2.ClusterSpec) -> str:
    return enum_name(types_pb2.AdminState.Name(spec.state), "ADMIN_STATE_")


def health(info: ClusterInfo) -> str:
    return enum_name(types_pb2.ClusterHealth.Name(info.health.health), "CLUSTER_HEALTH_")


def phase(value: int) -> str:
    return enum_name(types_pb2.WorkloadPhase.Name(value), "WORKLOAD_PHASE_")  # type: ignore[arg-type]


def cpu_triple(info: ClusterInfo) -> str:
    status = info.status
    return " / ".join(
        format_cpu(v)
        for v in (status.allocatable.cpu_millis, info.reserved.cpu_millis, status.usage.cpu_millis)
    )


def memory_triple(info: ClusterInfo) -> str:
    status = info.status
    values = (status.allocatable, info.reserved, status.usage)
    return " / ".join(format_memory(v.memory_bytes) for v in values)


def weighted_score(scores: Sequence[federation_pb2.PluginScore]) -> str:
    weight = sum(s.weight for s in scores)
    return f"{sum(s.score * s.weight for s in scores) / weight:.1f}" if weight else "-"


def cluster_table(infos: Sequence[ClusterInfo]) -> list[RenderableType]:
    scored = any(info.last_scores for info in infos)
    headers = ["name", "region", "zone", "state", "health", "nodes", "cpu alloc/resv/used",
               "memory alloc/resv/used", "reservations", "hot nodes", "workers"]  # fmt: skip
    out = table(*headers, *(["score"] if scored else []))
    for info in sorted(infos, key=lambda i: i.spec.name):
        status = info.status
        row = [
            info.spec.name, info.spec.region or "-", info.spec.zone or "-",
            admin_state(info.spec), health(info),
            f"{status.nodes_ready}/{status.nodes_total}",
            cpu_triple(info), memory_triple(info), str(info.reservations),
            str(status.hot_nodes), ",".join(info.workers) or "-",
        ]  # fmt: skip
        out.add_row(*row, *([weighted_score(info.last_scores)] if scored else []))
    return [out]


def cluster_details(info: ClusterInfo) -> list[RenderableType]:
    spec, status = info.spec, info.status
    fields = table("field", "value")
    for name, value in (
        ("Name", spec.name),
        ("Endpoint", spec.endpoint),
        ("Region / zone", f"{spec.region or '-'} / {spec.zone or '-'}"),
        ("Labels", ", ".join(f"{k}={v}" for k, v in sorted(spec.labels.items())) or "-"),
        ("Taints", ", ".join(f"{t.key}={t.value}:{t.effect}" for t in spec.taints) or "-"),
        ("State", admin_state(spec) + (f" ({spec.state_reason})" if spec.state_reason else "")),
        ("Health", health(info) + (f" ({info.health.reason})" if info.health.reason else "")),
        ("Nodes ready / total", f"{status.nodes_ready} / {status.nodes_total}"),
        ("CPU alloc / resv / used", cpu_triple(info)),
        ("Memory alloc / resv / used", memory_triple(info)),
        ("Foreign requested", _resources(status.foreign_requested)),
        ("Reservations", str(info.reservations)),
        ("Hot nodes", f"{status.hot_nodes} ({status.hot_node_ratio:.0%})"),
        ("Pending pods", str(status.pending_pods)),
        ("API latency p99", f"{status.api_latency_p99_ms:.1f} ms"),
        ("Workers", ", ".join(info.workers) or "-"),
        ("Last error", status.last_error or "-"),
    ):
        fields.add_row(name, value)
    out: list[RenderableType] = [fields]
    if info.last_scores:
        out.append(score_table(info.last_scores, "Last scores"))
    return out


def score_table(scores: Sequence[federation_pb2.PluginScore], title: str) -> Table:
    out = table("plugin", "score", "weight", "reason", title=title)
    for score in scores:
        out.add_row(score.plugin, f"{score.score:.1f}", f"{score.weight:g}", score.reason)
    return out


def placement_text(placement: types_pb2.Placement) -> str:
    parts = [f"{p.cluster}={p.replicas}" for p in placement.clusters if p.replicas]
    return ",".join(parts) or "-"


def workload_table(workloads: Sequence[types_pb2.Workload]) -> list[RenderableType]:
    out = table("namespace", "name", "replicas", "ready", "cpu", "memory", "phase", "placement")
    for workload in sorted(workloads, key=lambda w: (w.spec.namespace, w.spec.name)):
        spec = workload.spec
        ready = sum(p.ready_replicas for p in workload.placement.clusters)
        out.add_row(
            spec.namespace,
            spec.name,
            str(spec.replicas),
            str(ready),
            format_cpu_quantity(spec.resources.cpu_millis),
            format_memory(spec.resources.memory_bytes),
            phase(workload.phase),
            placement_text(workload.placement),
        )
    return [out]


def workload_details(workload: types_pb2.Workload) -> list[RenderableType]:
    out: list[RenderableType] = workload_table([workload])
    clusters = table("cluster", "replicas", "ready", "phase", "reservation", "message")
    for p in workload.placement.clusters:
        clusters.add_row(
            p.cluster, str(p.replicas), str(p.ready_replicas), phase(p.phase),
            p.reservation_id or "-", p.message or "-",
        )  # fmt: skip
    out += [Text(""), clusters]
    if workload.message:
        out.append(Text(f"Message: {workload.message}"))
    return out


def explain_table(response: federation_pb2.ExplainPlacementResponse) -> list[RenderableType]:
    plugins = _plugins(response.clusters)
    out = table("cluster", "feasible", "fits", "assigned", *plugins, "total", "why not")
    for item in response.clusters:
        scores = {s.plugin: f"{s.score:.0f}" for s in item.scores}
        failed = [f"{f.plugin}: {f.reason}" for f in item.filters if not f.passed]
        out.add_row(
            item.cluster, "yes" if item.feasible else "no", str(item.max_replicas),
            str(item.assigned_replicas), *(scores.get(p, "-") for p in plugins),
            f"{item.total_score:.1f}" if item.feasible else "-", "; ".join(failed) or "-",
        )  # fmt: skip
    lines = [f"Placement: {placement_text(response.placement)}"]
    if response.unplaced_replicas:
        lines.append(f"Unplaced replicas: {response.unplaced_replicas}")
    if response.message:
        lines.append(f"Message: {response.message}")
    return [out, Text(""), *(Text(line) for line in lines)]


def topology_tables(topology: federation_pb2.Topology) -> list[RenderableType]:
    leader = topology.leader
    head = Text(
        f"Leader: {leader.member.id or '-'} {leader.member.address} "
        f"(epoch {leader.epoch}, etcd revision {topology.revision})"
    )
    proxies = table("proxy", "address", "leader", "epoch", "load", "version", title="Proxies")
    for proxy in sorted(topology.proxies, key=lambda p: p.member.id):
        member = proxy.member
        proxies.add_row(
            member.id, member.address, "*" if proxy.leader else "",
            str(proxy.epoch or "-"), f"{member.load:.1f}", member.version or "-",
        )  # fmt: skip
    workers = table("worker", "address", "serves", "publishes status of", title="Workers")
    for worker in sorted(topology.workers, key=lambda w: w.member.id):
        assignment = worker.assignment
        workers.add_row(
            worker.member.id, worker.member.address,
            ",".join(assignment.clusters) or "-", ",".join(assignment.publishes) or "-",
        )  # fmt: skip
    return [head, Text(""), proxies, Text(""), workers]


def _plugins(clusters: Sequence[federation_pb2.ClusterExplanation]) -> list[str]:
    names: list[str] = []
    for item in clusters:
        names += [s.plugin for s in item.scores if s.plugin not in names]
    return names


def _resources(resources: types_pb2.Resources) -> str:
    return f"cpu {format_cpu(resources.cpu_millis)}, memory {format_memory(resources.memory_bytes)}"
