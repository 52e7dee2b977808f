"""The placement engine: the pure, deterministic entry points the proxy calls."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from fed.v1 import federation_pb2
from proxy.ledger import Ledger, OverCommitError
from proxy.metrics import CLASSES_PER_BATCH
from proxy.scheduler.assemble import unchanged
from proxy.scheduler.capacity import CapacityCache
from proxy.scheduler.class_memo import ClassMemo
from proxy.scheduler.cycle import Cycle
from proxy.scheduler.decision import Changes, Decision
from proxy.scheduler.explain import explain
from proxy.scheduler.last_scores import LastScores
from proxy.scheduler.model import PlacementRequest, Snapshot
from proxy.scheduler.plugin_set import PluginSet
from proxy.scheduler.policy import Policy, validate_policy
from proxy.scheduler.registry import Registry, default_registry
from proxy.scheduler.request_policy import RequestPolicies
from proxy.scheduler.status import Status
from proxy.scheduler.validation import check_values


@dataclass(init=False, unsafe_hash=True)
class Outcome:
    """A batch member's decision and what reserving it changed in the ledger."""

    decision: Final[Decision]
    changes: Final[Changes]

    def __init__(self, decision: Decision, changes: Changes) -> None:
        self.decision = decision
        self.changes = changes


class Engine:
    """Filters, scores and divides placement requests; no I/O.

    Policies are validated on construction (PolicyError names the field); a policy named
    "default" is added when none is given. `set_policies` replaces them in place (a settings
    reload); cycles already started keep the ones they began with.
    """

    def __init__(self, policies: Iterable[Policy] = (), registry: Registry | None = None) -> None:
        self.registry = registry or default_registry()
        self.memo = ClassMemo()
        self.set_policies(policies)
        self.capacities = CapacityCache()
        self.last_scores = LastScores()

    def set_policies(self, policies: Iterable[Policy]) -> None:
        """Validate every policy first (PolicyError, nothing changed), then swap them all."""
        chosen = {policy.name: policy for policy in policies}
        chosen.setdefault("default", Policy())
        for policy in chosen.values():
            validate_policy(policy, self.registry)
        self.plugin_sets = {
            name: PluginSet.build(policy, self.registry) for name, policy in chosen.items()
        }
        self.policies = chosen
        self.request_policies = RequestPolicies(chosen)
        self.memo.clear()

    def validate(self, request: PlacementRequest) -> None:
        """Raise PolicyError naming the first invalid field of the request."""
        check_values(request)
        self.request_policies.of(request)

    def cycle(self, snapshot: Snapshot, ledger: Ledger, share_classes: bool = True) -> Cycle:
        """A cycle for callers that decide and reserve step by step (failover, drills)."""
        return Cycle(
            snapshot,
            ledger,
            self.plugin_sets,
            share_classes,
            self.capacities,
            self.memo,
            self.request_policies,
        )

    def schedule(self, snapshot: Snapshot, ledger: Ledger, request: PlacementRequest) -> Decision:
        """Decide one request; the ledger is not changed (see reserve)."""
        self.validate(request)
        return self.cycle(snapshot, ledger).decide(request)

    def reserve(
        self, snapshot: Snapshot, ledger: Ledger, request: PlacementRequest, decision: Decision
    ) -> Changes:
        """Apply a decision to the ledger (raises OverCommitError, leaving it unchanged)."""
        return self.cycle(snapshot, ledger).reserve(request, decision)

    def schedule_batch(
        self,
        snapshot: Snapshot,
        ledger: Ledger,
        requests: Sequence[PlacementRequest],
        share_classes: bool = True,
    ) -> list[Outcome]:
        """Decide and reserve each request in turn, highest priority first (then in order),
        filtering and scoring once per equivalence class. Results are in request order.

        The ledger is changed in memory; take `ledger.checkpoint()` before and
        `ledger.rollback()` if the fenced etcd commit fails. Invalid requests raise
        PolicyError before anything is decided.
        """
        for request in requests:
            self.validate(request)
        cycle = self.cycle(snapshot, ledger, share_classes)
        order = sorted(range(len(requests)), key=lambda index: -requests[index].priority)
        outcomes: dict[int, Outcome] = {}
        for index in order:
            outcomes[index] = _decide_and_reserve(cycle, requests[index])
        CLASSES_PER_BATCH.observe(cycle.class_count)
        self.last_scores.record(cycle.classes)
        return [outcomes[index] for index in range(len(requests))]

    def explain(
        self, snapshot: Snapshot, ledger: Ledger, request: PlacementRequest
    ) -> federation_pb2.ExplainPlacementResponse:
        """Every cluster's filter verdicts and score breakdown, and what would be placed."""
        self.validate(request)
        return explain(self.cycle(snapshot, ledger), request)


def _decide_and_reserve(cycle: Cycle, request: PlacementRequest) -> Outcome:
    decision = cycle.decide(request)
    try:
        return Outcome(decision, cycle.reserve(request, decision))
    except OverCommitError as error:
        failed = Decision(
            decision.workload,
            Status.error(str(error), "reserve"),
            unchanged(request),
            request.replicas,
            diagnosis=decision.diagnosis,
        )
        return Outcome(failed, Changes())
