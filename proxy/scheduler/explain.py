"""ExplainPlacement: every cluster's filter verdicts and score breakdown, without reserving."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fed.v1 import federation_pb2
from proxy.scheduler.capacity import ClusterCapacity
from proxy.scheduler.cycle import EVACUATION, Cycle, EquivalenceClass, tiebreak
from proxy.scheduler.decision import Decision
from proxy.scheduler.framework import ClusterState, PluginContext, Score
from proxy.scheduler.model import PlacementRequest
from proxy.scheduler.runner import run_filter, run_scores, weighted_total
from proxy.scheduler.status import Status


def explain(cycle: Cycle, request: PlacementRequest) -> federation_pb2.ExplainPlacementResponse:
    """Feasible clusters best first, then the others by name."""
    decision = cycle.decide(request)
    found = cycle.equivalence_class(request)
    context = PluginContext(found.context.shape, found.context.selection, request.held())
    states = [cycle.state(view, found.plugins) for view in cycle.snapshot.clusters]
    verdicts = {state.name: _verdicts(found, context, request, state) for state in states}
    feasible = [state for state in states if all(item.ok for item in verdicts[state.name])]
    extra = run_scores(found.plugins.request_scores, context, feasible)
    assigned = decision.replicas()
    clusters = [
        _explanation(
            found,
            state,
            verdicts[state.name],
            {**found.scores.get(state.name, {}), **extra.get(state.name, {})},
            assigned.get(state.name, 0),
        )
        for state in states
    ]
    clusters.sort(key=lambda item: _order(item, request.workload))
    return federation_pb2.ExplainPlacementResponse(
        clusters=clusters,
        placement=decision.placement(),
        unplaced_replicas=decision.unplaced,
        message=_message(decision),
    )


def _verdicts(
    found: EquivalenceClass, context: PluginContext, request: PlacementRequest, state: ClusterState
) -> list[Status]:
    verdicts = [run_filter(plugin, context, state) for plugin in found.plugins.filters]
    if state.name in request.evacuate:
        verdicts.append(Status.unresolvable("being evacuated", EVACUATION))
    return verdicts


def _explanation(
    found: EquivalenceClass,
    state: ClusterState,
    verdicts: Sequence[Status],
    scores: Mapping[str, Score],
    assigned: int,
) -> federation_pb2.ClusterExplanation:
    feasible = all(item.ok for item in verdicts)
    explanation = federation_pb2.ClusterExplanation(
        cluster=state.name,
        feasible=feasible,
        filters=[
            federation_pb2.FilterVerdict(plugin=item.plugin, passed=item.ok, reason=item.message())
            for item in verdicts
        ],
        max_replicas=_max_replicas(state.capacity, found),
        assigned_replicas=assigned,
    )
    if feasible:
        explanation.scores.extend(
            federation_pb2.PluginScore(
                plugin=name, score=scores[name].value, weight=weight, reason=scores[name].reason
            )
            for name, weight in found.key.weights
            if name in scores
        )
        explanation.total_score = weighted_total(scores, found.weights)
    return explanation


def _max_replicas(capacity: ClusterCapacity | None, found: EquivalenceClass) -> int:
    if capacity is None:
        return 0
    return min(capacity.max_replicas(found.context.shape), 2**31 - 1)


def _order(item: federation_pb2.ClusterExplanation, workload: str) -> tuple[bool, float, int, str]:
    if item.feasible:
        return (False, -item.total_score, tiebreak(workload, item.cluster), item.cluster)
    return (True, 0.0, 0, item.cluster)


def _message(decision: Decision) -> str:
    if decision.ok and not decision.unplaced:
        return f"placed on {len(decision.replicas())} clusters"
    return "; ".join([*decision.status.reasons, *decision.reasons()])
