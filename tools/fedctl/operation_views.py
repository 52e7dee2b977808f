"""Tables of operations: failovers, drills, drains and rebalances."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from rich.console import RenderableType

from fed.v1 import types_pb2
from tools.fedctl.output import enum_name, table


def summary(operation: types_pb2.Operation) -> list[RenderableType]:
    out = table("operation", "kind", "phase", "mode", "clusters", "moved", "failed", "total",
                "rto")  # fmt: skip
    out.add_row(
        operation.id,
        enum_name(types_pb2.OperationKind.Name(operation.kind), "OPERATION_KIND_"),
        enum_name(types_pb2.OperationPhase.Name(operation.phase), "OPERATION_PHASE_"),
        enum_name(types_pb2.FailoverMode.Name(operation.mode), "FAILOVER_MODE_"),
        ",".join(operation.clusters),
        str(operation.replicas_moved),
        str(operation.replicas_failed),
        str(operation.replicas_total),
        f"{operation.rto_seconds:.1f}s" if operation.rto_seconds else "-",
    )
    return [out]


def plan(operation: types_pb2.Operation) -> list[RenderableType]:
    """What would move where, and what fits nowhere (a dry run)."""
    moves = table("workload", "from", "to", "replicas", title="planned moves")
    for step in operation.steps:
        moves.add_row(step.workload, step.from_cluster, step.to_cluster, str(step.replicas))
    return [*summary(operation), moves, *_shortfalls(operation.shortfalls)]


def report(operation: types_pb2.Operation) -> list[RenderableType]:
    """Timeline, every step, failures and the measured RTO."""
    steps = table("workload", "from", "to", "replicas", "step", "message", title="steps")
    for step in operation.steps:
        steps.add_row(
            step.workload, step.from_cluster, step.to_cluster or "-", str(step.replicas),
            enum_name(types_pb2.StepPhase.Name(step.phase), "STEP_PHASE_"), step.message or "",
        )  # fmt: skip
    timeline = table("at", "event", title="timeline")
    for event in operation.timeline:
        timeline.add_row(_time(event.at.ToMicroseconds() / 1e6), event.message)
    return [*summary(operation), timeline, steps, *_shortfalls(operation.shortfalls)]


def listing(operations: Sequence[types_pb2.Operation]) -> list[RenderableType]:
    rows = [row for op in operations for row in summary(op)]
    return rows or ["no operations"]


def _shortfalls(shortfalls: Sequence[types_pb2.Shortfall]) -> list[RenderableType]:
    if not shortfalls:
        return []
    out = table("workload", "replicas", "why", title="shortfall: fits nowhere, stays put")
    for item in shortfalls:
        out.add_row(item.workload, str(item.replicas), "; ".join(item.reasons))
    return [out]


def _time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%H:%M:%S.%f")[:-3]
