"""One scheduling cycle over a snapshot and a ledger: equivalence classes, decisions, reserve.

A cycle caches, per equivalence class, the static filter verdicts and the class-level scores,
and per cluster its capacity (kept in step with the reservations the cycle itself makes), so
that a batch filters and scores once per class and divides each request in turn.
"""

from __future__ import annotations

import operator
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from proxy.ledger import Ledger, OverCommitError
from proxy.scheduler.assemble import added, assignments, failure, unchanged
from proxy.scheduler.capacity import CapacityCache, ClusterCapacity
from proxy.scheduler.class_memo import (
    SCORE_SLACK,
    ClassEntry,
    ClassMemo,
    ClusterResult,
    DynamicResult,
)
from proxy.scheduler.decision import Changes, Decision
from proxy.scheduler.diagnosis import Diagnosis
from proxy.scheduler.divide import Candidate, Division, Rules, divide, single_replica_shares
from proxy.scheduler.equivalence import ClassKey
from proxy.scheduler.framework import ClusterState, PluginContext, Score
from proxy.scheduler.model import ClusterView, PlacementRequest, Snapshot
from proxy.scheduler.plugin_set import PluginSet
from proxy.scheduler.request_policy import RequestPolicies
from proxy.scheduler.reservations import reservation_changes
from proxy.scheduler.resources import ZERO, Quantity
from proxy.scheduler.runner import (
    normalised_scores,
    raw_scores,
    run_filters,
    run_scores,
    weighted_total,
)
from proxy.scheduler.status import Status
from proxy.scheduler.top_n import largest_positions

EVACUATION = "evacuation"


@dataclass(frozen=True)
class EquivalenceClass:
    """What every request of one class shares: static verdicts and class-level scores."""

    key: ClassKey
    plugins: PluginSet
    context: PluginContext
    rejected: Mapping[str, Status]
    passed: tuple[ClusterView, ...]
    scores: Mapping[str, Mapping[str, Score]]
    base: Mapping[str, float]
    weights: Mapping[str, float]
    fresh: Mapping[str, float]
    """Total score per passing cluster for a request that holds nothing yet."""
    dynamic: dict[str, DynamicResult] = field(default_factory=dict, compare=False)
    """Per cluster: dynamic verdict and replicas that fit (a cache, kept across cycles when
    classes are shared)."""


def tiebreak(workload: str, cluster: str) -> int:
    """A stable hash of (workload, cluster): equal scores rank without alphabetical bias."""
    return zlib.crc32(cluster.encode(), zlib.crc32(workload.encode()))


def tie_hash(view: ClusterView, seed: int) -> int:
    """tiebreak with the workload's hash (the seed) computed once per request."""
    return zlib.crc32(view.name_bytes, seed)


_SCORE = operator.itemgetter(0)


def _ranked(
    workload: str, scored: list[tuple[float, ClusterView, int]]
) -> list[tuple[float, ClusterView, int]]:
    """Best score first; equal scores in the order of their tie-break hash."""
    scored.sort(key=_SCORE, reverse=True)  # stable: equal scores keep their order
    seed = 0
    start = 0
    while start < len(scored):
        end = start + 1
        while end < len(scored) and scored[end][0] == scored[start][0]:
            end += 1
        if end - start > 1:
            seed = seed or zlib.crc32(workload.encode())
            scored[start:end] = sorted(scored[start:end], key=lambda item: tie_hash(item[1], seed))
        start = end
    return scored


def first_ranked(
    positions: list[int], wanted: int, scores: list[float], views: list[ClusterView], workload: str
) -> list[int]:
    """The `wanted` first of `positions` in _ranked's order (best score, then the tie-break
    hash, then position), hashing only the best-scored."""
    chosen: list[int] = []
    rest = positions
    while wanted > 0 and rest:
        best = max([scores[index] for index in rest])
        group = [index for index in rest if scores[index] == best]
        if len(group) > wanted:
            seed = zlib.crc32(workload.encode())
            hashes = [-float(tie_hash(views[index], seed)) for index in group]
            return chosen + [group[at] for at in largest_positions(hashes, wanted)]
        chosen += group
        wanted -= len(group)
        rest = [index for index in rest if scores[index] != best]
    return chosen


class Cycle:
    """Schedules requests against one snapshot, reserving into the ledger in memory."""

    def __init__(
        self,
        snapshot: Snapshot,
        ledger: Ledger,
        plugin_sets: Mapping[str, PluginSet],
        share_classes: bool = True,
        capacities: CapacityCache | None = None,
        memo: ClassMemo | None = None,
        request_policies: RequestPolicies | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.ledger = ledger
        self.plugin_sets = plugin_sets
        self.share_classes = share_classes
        self.views = {view.name: view for view in snapshot.clusters}
        self.policies = {name: plugins.policy for name, plugins in plugin_sets.items()}
        self._classes: dict[ClassKey, EquivalenceClass] = {}
        self.capacities = capacities if capacities is not None else CapacityCache()
        self._memo = memo if share_classes else None
        self.request_policies = request_policies or RequestPolicies(self.policies)

    @property
    def class_count(self) -> int:
        """Equivalence classes this cycle has filtered and scored."""
        return len(self._classes)

    @property
    def classes(self) -> Iterable[EquivalenceClass]:
        """The equivalence classes this cycle has filtered and scored."""
        return self._classes.values()

    def capacity(self, view: ClusterView, overcommit: float) -> ClusterCapacity | None:
        """The cluster's capacity under the ledger as it is now."""
        return self.capacities.get(view, self.ledger, overcommit)

    def state(self, view: ClusterView, plugins: PluginSet) -> ClusterState:
        return ClusterState(view, self.capacity(view, plugins.policy.default_overcommit))

    def equivalence_class(self, request: PlacementRequest) -> EquivalenceClass:
        resolved = self.request_policies.of(request)
        plugins = self.plugin_sets[resolved.policy.name]
        key = resolved.class_key(request.shape)
        found = self._classes.get(key) if self.share_classes else None
        if found is None:
            found = self._build_class(key, plugins)
            self._classes[key] = found
        return found

    def _build_class(self, key: ClassKey, plugins: PluginSet) -> EquivalenceClass:
        """The class over this snapshot; the one the memo built last when its views and every
        cluster's result are still the same, and its scores over the new views when only
        views changed (normalising and weighting would repeat them: a heartbeat of one
        cluster would cost a pass over every cluster of a large fleet)."""
        context = PluginContext(key.shape, key.selection)
        entry = self._memo.entry(key) if self._memo is not None else ClassEntry()
        known = entry.results
        results: dict[str, ClusterResult] = {}
        rescored = False
        for view in self.snapshot.clusters:
            result = known.get(view.name)
            if result is None or not result.current(view, self.ledger):
                recomputed = self._cluster_result(view, plugins, context)
                rescored = rescored or result is None or not recomputed.scores_like(result)
                result = recomputed
            elif result.status is not view.status:  # a heartbeat: compared once, not per cycle
                result = replace(result, status=view.status)
            results[view.name] = result
        built = entry.built
        views = self.snapshot.clusters
        if built is None or built.plugins is not plugins or rescored or len(known) != len(results):
            built = self._assemble_class(key, plugins, context, results, entry)
        elif entry.built_views is not views:
            built = replace(built, passed=tuple(v for v in views if v.name not in built.rejected))
        entry.results = results
        entry.built = built
        entry.built_views = views
        return built

    def _assemble_class(
        self,
        key: ClassKey,
        plugins: PluginSet,
        context: PluginContext,
        results: Mapping[str, ClusterResult],
        entry: ClassEntry,
    ) -> EquivalenceClass:
        rejected = {name: r.verdict for name, r in results.items() if not r.verdict.ok}
        passed = tuple(view for view in self.snapshot.clusters if view.name not in rejected)
        scores = normalised_scores(
            plugins.class_scores, {view.name: results[view.name].raw for view in passed}
        )
        weights = dict(key.weights)
        base = {name: weighted_total(items, weights) for name, items in scores.items()}
        idle_scores = normalised_scores(
            plugins.request_scores, {view.name: results[view.name].idle_raw for view in passed}
        )
        idle = {name: weighted_total(items, weights) for name, items in idle_scores.items()}
        fresh = {name: total + idle.get(name, 0.0) for name, total in base.items()}
        return EquivalenceClass(
            key, plugins, context, rejected, passed, scores, base, weights, fresh, entry.dynamic
        )

    def _cluster_result(
        self, view: ClusterView, plugins: PluginSet, context: PluginContext
    ) -> ClusterResult:
        state = self.state(view, plugins)
        verdict = run_filters(plugins.static_filters, context, state)
        raw = raw_scores(plugins.class_scores, context, state) if verdict.ok else {}
        idle_raw = raw_scores(plugins.request_scores, context, state) if verdict.ok else {}
        generation = self.ledger.generation(view.name)
        capacity = state.capacity
        slack = capacity.limit.scaled(SCORE_SLACK) if capacity is not None else ZERO
        return ClusterResult(
            view.spec,
            view.status,
            view.health,
            self.ledger,
            generation,
            verdict,
            raw,
            idle_raw,
            self.ledger.reserved(view.name),
            slack,
        )

    def candidates(
        self, request: PlacementRequest, found: EquivalenceClass
    ) -> tuple[list[Candidate], Mapping[str, Status]]:
        """Feasible clusters for this request, best first, and every rejected cluster."""
        rejected: Mapping[str, Status] = found.rejected
        more: dict[str, Status] = {}
        evacuate = request.evacuate
        totals = self._totals(request, found)
        scored: list[tuple[float, ClusterView, int]] = []
        for view in found.passed:
            name = view.name
            if evacuate and name in evacuate:
                more[name] = Status.unresolvable("being evacuated", EVACUATION)
                continue
            cached = self._current_dynamic(found, view)
            if cached[3].ok:
                scored.append((totals.get(name, 0.0), view, cached[4]))
            else:
                more[name] = cached[3]
        if more:
            rejected = {**rejected, **more}
        topology = request.policy.spread.topology
        return [
            Candidate(view.name, view.topology(topology), score, available)
            for score, view, available in _ranked(request.workload, scored)
        ], rejected

    def _current_dynamic(self, found: EquivalenceClass, view: ClusterView) -> DynamicResult:
        cached = found.dynamic.get(view.name)
        ledger = self.ledger
        if (
            cached is None
            or cached[2] != ledger.generations.get(view.name, 0)
            or cached[0] is not view
            or cached[1] is not ledger
        ):
            return self._dynamic(found, view)
        return cached

    def _dynamic(self, found: EquivalenceClass, view: ClusterView) -> DynamicResult:
        """The ledger-dependent verdict and the replicas that fit, re-run only when the
        cluster's reservations changed since the class last looked."""
        state = self.state(view, found.plugins)
        status = run_filters(found.plugins.dynamic_filters, found.context, state)
        capacity = state.capacity
        available = capacity.max_replicas(found.context.shape) if capacity is not None else 0
        result = (view, self.ledger, self.ledger.generation(view.name), status, available)
        found.dynamic[view.name] = result
        return result

    def _totals(self, request: PlacementRequest, found: EquivalenceClass) -> Mapping[str, float]:
        """Total score per passing cluster: class scores plus weighted per-request scores
        (they depend on the current placement; the class has them for a fresh request)."""
        plugins = found.plugins
        if not request.current or not plugins.request_scores:
            return found.fresh
        context = PluginContext(found.context.shape, found.context.selection, request.held())
        states = [self.state(view, plugins) for view in found.passed]
        scores = run_scores(plugins.request_scores, context, states)
        return {
            name: found.base.get(name, 0.0) + weighted_total(items, found.weights)
            for name, items in scores.items()
        }

    def decide(self, request: PlacementRequest) -> Decision:
        """Filter, score and divide one request; the ledger is not changed."""
        found = self.equivalence_class(request)
        resolved = self.request_policies.of(request)
        if (
            not request.evacuate
            and not request.current
            and resolved.rules.unconstrained
            and request.replicas < len(found.passed)  # else some share is a whole replica
        ):
            fresh = self._decide_fresh(request, found)
            if fresh is not None:
                return fresh
        candidates, rejected = self.candidates(request, found)
        rules = resolved.evacuating_rules if request.evacuate else resolved.rules
        division = divide(
            candidates, request.kept(), self._group_of(rules), request.replicas, rules
        )
        diagnosis = Diagnosis(rejected, division.limits)
        placed_new = added(request, division) > 0
        if division.unplaced and not (rules.allow_partial and placed_new):
            return Decision(
                request.workload,
                failure(candidates, rejected, division),
                unchanged(request),
                division.unplaced,
                diagnosis,
            )
        return Decision(
            request.workload,
            Status.success(),
            assignments(request, division),
            division.unplaced,
            diagnosis,
        )

    def _decide_fresh(self, request: PlacementRequest, found: EquivalenceClass) -> Decision | None:
        """A fresh request under no count or spread rule, when every feasible cluster's
        share is below one replica (most placements): what divide would decide, found
        without ranking every feasible cluster (divide.single_replica_shares). None when
        that does not apply."""
        more: dict[str, Status] = {}
        fresh = found.fresh
        views: list[ClusterView] = []
        scores: list[float] = []
        available: list[int] = []
        for view in found.passed:
            cached = self._current_dynamic(found, view)
            if not cached[3].ok:
                more[view.name] = cached[3]
            elif cached[4] > 0:
                views.append(view)
                scores.append(fresh.get(view.name, 0.0))
                available.append(cached[4])
        shares = single_replica_shares(scores, available, request.replicas)
        if shares is None:
            return None
        chosen, tied, wanted = shares
        if wanted:
            chosen += first_ranked(tied, wanted, scores, views, request.workload)
        totals = {views[index].name: 1 for index in chosen}
        rejected = {**found.rejected, **more} if more else found.rejected
        return Decision(
            request.workload,
            Status.success(),
            assignments(request, Division(totals)),
            0,
            Diagnosis(rejected),
        )

    def _group_of(self, rules: Rules) -> Callable[[str], str]:
        def group_of(cluster: str) -> str:
            view = self.views.get(cluster)
            return view.topology(rules.topology) if view is not None else cluster

        return group_of

    def reserve(
        self, request: PlacementRequest, decision: Decision, release_evacuated: bool = True
    ) -> Changes:
        """Apply a successful decision to the ledger (all or nothing: OverCommitError rolls
        back this request's changes and propagates). Graceful moves that keep the source
        until the target is ready pass release_evacuated=False and release it later."""
        if not decision.ok:
            return Changes()
        overcommit = self.request_policies.of(request).policy.default_overcommit
        checkpoint = self.ledger.checkpoint()
        try:
            changes = reservation_changes(
                self.ledger,
                request,
                decision,
                lambda cluster: self._allowance(cluster, overcommit),
                release_evacuated,
            )
        except OverCommitError:
            self.ledger.rollback(checkpoint)
            raise
        return changes

    def _allowance(self, cluster: str, overcommit: float) -> Quantity:
        view = self.views.get(cluster)
        capacity = self.capacity(view, overcommit) if view is not None else None
        return capacity.allowance if capacity is not None else ZERO
