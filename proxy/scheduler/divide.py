"""Division: how many replicas each feasible cluster gets.

Karmada's dynamic weight (proportional to available replicas), here also weighted by score,
with what Karmada lacks: per-cluster minimum and maximum, min/max clusters, spread over
regions or zones (max skew, min groups), gang and partial placement. Scale up adds replicas
to the clusters already used when they can take them; scale down removes proportionally;
failover re-places what the evacuated clusters held. A division that would break a rule is
never returned: it fails (or, when partial placement is allowed, places fewer).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from fed.v1 import types_pb2
from proxy.scheduler.top_n import split_at_nth

NO_LIMIT = math.inf


@dataclass(init=False, unsafe_hash=True)
class Candidate:
    """A feasible cluster: its spread group, total score and how many new replicas fit (a
    batch builds one per feasible cluster per request: a cheap value, see Quantity)."""

    cluster: Final[str]
    group: Final[str]
    score: Final[float]
    available: Final[int]

    def __init__(self, cluster: str, group: str, score: float, available: int) -> None:
        self.cluster = cluster
        self.group = group
        self.score = score
        self.available = available


@dataclass(init=False, unsafe_hash=True)
class Rules:
    """The division constraints of a PlacementPolicy (zero means unset)."""

    per_cluster_min: Final[int]
    per_cluster_max: Final[int]
    min_clusters: Final[int]
    max_clusters: Final[int]
    topology: Final[str]
    max_skew: Final[int]
    min_groups: Final[int]
    gang: Final[bool]
    allow_partial: Final[bool]

    def __init__(
        self,
        per_cluster_min: int = 0,
        per_cluster_max: int = 0,
        min_clusters: int = 0,
        max_clusters: int = 0,
        topology: str = "",
        max_skew: int = 0,
        min_groups: int = 0,
        gang: bool = False,
        allow_partial: bool = False,
    ) -> None:
        self.per_cluster_min = per_cluster_min
        self.per_cluster_max = per_cluster_max
        self.min_clusters = min_clusters
        self.max_clusters = max_clusters
        self.topology = topology
        self.max_skew = max_skew
        self.min_groups = min_groups
        self.gang = gang
        self.allow_partial = allow_partial

    @property
    def unconstrained(self) -> bool:
        """No count or spread rule: a fresh workload's division is one proportional fill
        over every feasible cluster (what the general planner finds first, found directly)."""
        return not (
            self.per_cluster_min
            or self.per_cluster_max
            or self.min_clusters
            or self.max_clusters
            or self.topology
        )

    @classmethod
    def from_policy(cls, policy: types_pb2.PlacementPolicy, evacuating: bool = False) -> Rules:
        """Failover re-places what it can unless the workload is a gang."""
        return cls(
            per_cluster_min=policy.per_cluster_min,
            per_cluster_max=policy.per_cluster_max,
            min_clusters=policy.min_clusters,
            max_clusters=policy.max_clusters,
            topology=policy.spread.topology,
            max_skew=policy.spread.max_skew,
            min_groups=policy.spread.min_groups,
            gang=policy.gang,
            allow_partial=not policy.gang and (policy.allow_partial or evacuating),
        )


@dataclass(init=False, unsafe_hash=True)
class Division:
    """Replicas per cluster afterwards (kept plus added, clusters with none left out), what did
    not fit and why."""

    totals: Final[Mapping[str, int]]
    unplaced: Final[int]
    limits: Final[tuple[str, ...]]

    def __init__(
        self, totals: Mapping[str, int], unplaced: int = 0, limits: tuple[str, ...] = ()
    ) -> None:
        self.totals = totals
        self.unplaced = unplaced
        self.limits = limits


@dataclass(init=False, unsafe_hash=True)
class _Slot:
    candidate: Final[Candidate]
    kept: Final[int]
    cap: Final[int]
    floor: Final[int]

    def __init__(self, candidate: Candidate, kept: int, cap: int, floor: int) -> None:
        self.candidate = candidate
        self.kept = kept
        self.cap = cap
        self.floor = floor


def apportion(total: int, items: Sequence[tuple[str, float, int]]) -> dict[str, int]:
    """Split total over (key, weight, cap) items in proportion to weight, never above a cap.

    Largest remainder method; remainder ties go to the earlier item. When positive weights
    cannot absorb everything, the rest fills zero-weight items in order. Returns what each
    (distinct) key got; the sum is min(total, sum of caps). Works on item positions, not
    dicts by key: it runs once per placement over every candidate cluster.
    """
    weights = [weight for _, weight, _ in items]
    room = [cap for _, _, cap in items]
    given = [0] * len(items)
    open_ = [index for index in range(len(items)) if room[index] > 0]
    left = total
    while left > 0:
        active = [index for index in open_ if weights[index] > 0]
        if not active:
            break
        whole = math.fsum([weights[index] for index in active])  # the same in any order
        quotas = [left * weights[index] / whole for index in active]
        capped = [index for at, index in enumerate(active) if quotas[at] >= room[index]]
        if capped:
            for index in capped:
                given[index] += room[index]
                left -= room[index]
            full = set(capped)
            open_ = [index for index in open_ if index not in full]
            continue
        left -= _largest_remainder(left, active, quotas, given)
        break
    for index in open_:
        if left <= 0:
            break
        if weights[index] <= 0:
            extra = min(room[index], left)
            given[index] += extra
            left -= extra
    return {key: given[index] for index, (key, _, _) in enumerate(items)}


def _largest_remainder(left: int, active: list[int], quotas: list[float], given: list[int]) -> int:
    """Give each active item its quota's whole part, then one more to the largest fractions
    (a stable sort: ties to the earlier item) until `left` is spent."""
    spent = 0
    for position, index in enumerate(active):
        whole = math.floor(quotas[position])
        given[index] += whole
        spent += whole
    extra = left - spent
    fractions = [-(quota % 1) for quota in quotas]
    positions = range(len(quotas))
    if len(quotas) > 64 and extra * 8 < len(quotas):  # a few of many (a large fleet): a heap
        order = heapq.nsmallest(extra, positions, key=fractions.__getitem__)
    else:
        order = sorted(positions, key=fractions.__getitem__)[:extra]
    for position in order:
        given[active[position]] += 1
        spent += 1
    return spent


def divide(
    candidates: Sequence[Candidate],
    kept: Mapping[str, int],
    group_of: Callable[[str], str],
    replicas: int,
    rules: Rules,
) -> Division:
    """Divide so that the workload ends with `replicas` in total.

    candidates: feasible clusters, best first. kept: replicas that stay where they are.
    group_of: a cluster's spread group (for kept clusters that are no longer candidates).
    """
    kept = {cluster: count for cluster, count in kept.items() if count > 0}
    need = replicas - sum(kept.values())
    if need <= 0:
        return _shrink(kept, replicas, candidates, rules)
    if not kept and rules.unconstrained:
        added = _fill_fresh(candidates, need)
        if added is not None:
            return Division(added)
    plan = _Planner(candidates, kept, group_of, rules)
    added, reason = plan.grow(need)
    if added is not None:
        return Division(_merge(kept, added))
    if not rules.allow_partial:
        return Division(dict(kept), need, (reason,))
    best, placed = plan.largest_fitting(need)
    return Division(_merge(kept, best), need - placed, (reason,))


def _merge(kept: Mapping[str, int], added: Mapping[str, int]) -> dict[str, int]:
    totals = dict(kept)
    for cluster, count in added.items():
        if count > 0:
            totals[cluster] = totals.get(cluster, 0) + count
    return totals


class _Planner:
    """Finds additions for a given count under the rules, trying kept clusters first."""

    def __init__(
        self,
        candidates: Sequence[Candidate],
        kept: Mapping[str, int],
        group_of: Callable[[str], str],
        rules: Rules,
    ) -> None:
        self.candidates = list(candidates)
        self.kept = kept
        self.group_of = group_of
        self.rules = rules
        self.budget = NO_LIMIT if not rules.max_clusters else rules.max_clusters - len(kept)

    def grow(self, need: int) -> tuple[dict[str, int] | None, str]:
        """Additions summing to need that honour every rule, or None and why not."""
        reason = "no feasible cluster"
        for ordered, steady_first in self._orders():
            added, reason = self._attempt(ordered, need, steady_first)
            if added is not None:
                return added, ""
        return None, reason

    def largest_fitting(self, need: int) -> tuple[dict[str, int], int]:
        """The additions for the largest count below need that fits (binary search)."""
        low, best = 0, dict[str, int]()
        high = need - 1
        while low < high:
            middle = (low + high + 1) // 2
            added, _ = self.grow(middle)
            if added is None:
                high = middle - 1
            else:
                low, best = middle, added
        if low > 0 and not best:
            best = self.grow(low)[0] or {}
        return best, sum(best.values())

    def _orders(self) -> Iterator[tuple[list[Candidate], bool]]:
        """Attempts in turn: the clusters already used alone; those filled first and the rest
        spilled over the others; all by rank; all by room (when the best are small)."""
        steady = [item for item in self.candidates if item.cluster in self.kept]
        by_rank = self._spread_order(self.candidates)
        if steady:
            yield steady, False
            yield by_rank, True
        yield by_rank, False
        yield self._spread_order(sorted(self.candidates, key=lambda item: -item.available)), False

    def _spread_order(self, ordered: list[Candidate]) -> list[Candidate]:
        """Round-robin over groups (best group first) so that minimums and budgets cover many."""
        if not self.rules.topology:
            return ordered
        groups: dict[str, list[Candidate]] = {}
        for item in ordered:
            groups.setdefault(item.group, []).append(item)
        rounds = max((len(members) for members in groups.values()), default=0)
        return [
            members[index]
            for index in range(rounds)
            for members in groups.values()
            if index < len(members)
        ]

    def _attempt(
        self, ordered: list[Candidate], need: int, steady_first: bool
    ) -> tuple[dict[str, int] | None, str]:
        slots = self._select(ordered, need)
        if self.rules.topology:
            added = self._fill_groups(slots, need, steady_first)
        else:
            added = _fill(slots, need, steady_first)
        if added is None:
            room = sum(slot.cap for slot in slots)
            return None, f"{need} replicas needed, room for {room} under the policy's limits"
        reason = self._violation(added, need)
        return (None, reason) if reason else (added, "")

    def _select(self, ordered: list[Candidate], need: int) -> list[_Slot]:
        rules = self.rules
        slots: list[_Slot] = []
        floors = opened = 0
        for item in ordered:
            held = self.kept.get(item.cluster, 0)
            cap = item.available
            if rules.per_cluster_max:
                cap = min(cap, max(rules.per_cluster_max - held, 0))
            floor = max(rules.per_cluster_min - held, 0)
            if cap <= 0 or cap < floor or floors + floor > need:
                continue
            if held == 0:
                if opened >= self.budget:
                    continue
                opened += 1
            floors += floor
            slots.append(_Slot(item, held, cap, floor))
        return self._raise_floors(slots, need - floors)

    def _raise_floors(self, slots: list[_Slot], spare: int) -> list[_Slot]:
        """Give one replica to enough new clusters that min_clusters is reached."""
        if not self.rules.min_clusters:
            return slots
        in_use = len(self.kept) + sum(1 for slot in slots if slot.kept == 0 and slot.floor > 0)
        raised: list[_Slot] = []
        for slot in slots:
            if in_use < self.rules.min_clusters and slot.kept == 0 and slot.floor == 0 and spare:
                raised.append(_Slot(slot.candidate, slot.kept, slot.cap, 1))
                in_use += 1
                spare -= 1
            else:
                raised.append(slot)
        return raised

    def _fill_groups(
        self, slots: list[_Slot], need: int, steady_first: bool
    ) -> dict[str, int] | None:
        groups: dict[str, list[_Slot]] = {}
        for slot in slots:
            groups.setdefault(slot.candidate.group, []).append(slot)
        shares = self._water_fill(groups, need)
        added: dict[str, int] = {}
        for group, share in shares.items():
            members = _within(groups[group], share)
            part = _fill(members, share, steady_first) if share else {}
            if part is None:
                return None
            added.update(part)
        return added if sum(added.values()) == need else None

    def _water_fill(self, groups: Mapping[str, list[_Slot]], need: int) -> dict[str, int]:
        """Give replicas to the group holding fewest (in group rank order on ties)."""
        totals = self._group_totals()
        shares = dict.fromkeys(groups, 0)
        room = {group: sum(slot.cap for slot in members) for group, members in groups.items()}
        heap = [(totals.get(group, 0), rank, group) for rank, group in enumerate(groups)]
        heapq.heapify(heap)
        left = need
        while heap and left > 0:
            total, rank, group = heapq.heappop(heap)
            step = 1
            if shares[group] == 0 and totals.get(group, 0) == 0:
                step = max(1, min(slot.floor for slot in groups[group]))
            step = min(step, room[group] - shares[group])
            if step <= 0 or step > left:
                continue
            shares[group] += step
            left -= step
            heapq.heappush(heap, (total + step, rank, group))
        return shares

    def _group_totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for cluster, count in self.kept.items():
            group = self.group_of(cluster)
            totals[group] = totals.get(group, 0) + count
        return totals

    def _violation(self, added: Mapping[str, int], need: int) -> str:
        """Why these additions break a rule; empty when they honour every rule."""
        rules = self.rules
        totals = _merge(self.kept, added)
        opened = [
            cluster for cluster, count in added.items() if count > 0 and not self.kept.get(cluster)
        ]
        if sum(added.values()) != need:
            return f"placed {sum(added.values())} of {need} replicas"
        for cluster, count in added.items():
            if count > 0 and rules.per_cluster_max and totals[cluster] > rules.per_cluster_max:
                return f"{cluster} would exceed per_cluster_max {rules.per_cluster_max}"
            if count > 0 and totals[cluster] < rules.per_cluster_min:
                return f"{cluster} would hold fewer than per_cluster_min {rules.per_cluster_min}"
        if opened and rules.max_clusters and len(totals) > rules.max_clusters:
            return f"needs more than max_clusters {rules.max_clusters} clusters"
        if len(totals) < rules.min_clusters:
            return (
                f"only {len(totals)} clusters can take replicas, min_clusters {rules.min_clusters}"
            )
        return self._spread_violation(totals) if rules.topology else ""

    def _spread_violation(self, totals: Mapping[str, int]) -> str:
        rules = self.rules
        groups = {item.group: 0 for item in self.candidates}
        for cluster, count in totals.items():
            group = self.group_of(cluster)
            groups[group] = groups.get(group, 0) + count
        used = sum(1 for count in groups.values() if count > 0)
        if used < rules.min_groups:
            return f"spread over {used} {rules.topology}s, min_groups {rules.min_groups}"
        eligible = [
            count for group, count in groups.items() if count > 0 or group in self._open_groups()
        ]
        skew = max(eligible, default=0) - min(eligible, default=0)
        if rules.max_skew and skew > rules.max_skew:
            return f"{rules.topology} skew {skew} exceeds max_skew {rules.max_skew}"
        return ""

    def _open_groups(self) -> set[str]:
        """Groups with a cluster that could take a replica (they count for skew)."""
        return {item.group for item in self.candidates if item.available > 0}


def _within(slots: list[_Slot], share: int) -> list[_Slot]:
    """The group's clusters whose minimums fit within its share, best first."""
    chosen: list[_Slot] = []
    floors = 0
    for slot in slots:
        if floors + slot.floor <= share:
            chosen.append(slot)
            floors += slot.floor
    return chosen


def _fill(slots: list[_Slot], need: int, steady_first: bool = False) -> dict[str, int] | None:
    """Minimums first; then, when steady_first, clusters already used up to their room; the
    rest by available replicas x relative score. None if there is not enough room."""
    floors = sum(slot.floor for slot in slots)
    if floors > need or sum(slot.cap for slot in slots) < need:
        return None
    given = {slot.candidate.cluster: slot.floor for slot in slots}
    left = need - floors
    spill = slots
    if steady_first:
        for slot in slots:
            if slot.kept:
                extra = min(slot.cap - slot.floor, left)
                given[slot.candidate.cluster] += extra
                left -= extra
        spill = [slot for slot in slots if not slot.kept]
    best = max((slot.candidate.score for slot in spill), default=0.0)
    items = [
        (
            slot.candidate.cluster,
            _weight(slot.cap - slot.floor, slot.candidate.score, best),
            slot.cap - slot.floor,
        )
        for slot in spill
    ]
    for cluster, extra in apportion(left, items).items():
        given[cluster] += extra
    return given


def _fill_fresh(candidates: Sequence[Candidate], need: int) -> dict[str, int] | None:
    """What _fill gives a fresh workload under no count or spread rule (no minimum, nothing
    kept), without building its slots: this is most placements. Clusters given none are
    left out."""
    open_ = [item for item in candidates if item.available > 0]
    if sum(item.available for item in open_) < need:
        return None
    best = max((item.score for item in open_), default=0.0)
    items = [
        (item.cluster, _weight(item.available, item.score, best), item.available) for item in open_
    ]
    return {cluster: count for cluster, count in apportion(need, items).items() if count > 0}


def single_replica_shares(
    scores: Sequence[float], available: Sequence[int], need: int
) -> tuple[list[int], list[int], int] | None:
    """_fill_fresh's division when every open cluster's share is below one replica (a few
    replicas over many clusters: most placements), without ranking every cluster first.

    scores and available: the open clusters (available > 0), in any order. Shares are
    apportion's quotas, and the `need` largest get one replica each. Returns the positions
    sure of one (a share above the cut), the positions tied at the cut (in position order),
    and how many of the tied get one: the caller takes those in rank order, as apportion
    gives equal remainders in candidate order. None when a share is a whole replica or
    more, or when no more than `need` clusters have weight: the general division decides.
    """
    if need <= 0:
        return None
    best = max(scores, default=0.0)
    weights = [_weight(count, score, best) for score, count in zip(scores, available, strict=True)]
    if sum(1 for weight in weights if weight > 0) <= need:
        return None
    whole = math.fsum(weights)
    quotas = [need * weight / whole for weight in weights]
    if max(quotas) >= 1.0:
        return None
    sure, tied = split_at_nth(quotas, need)
    return sure, tied, need - len(sure)


def _weight(room: int, score: float, best: float) -> float:
    """A cluster's weight in the proportional fill: its room times its score relative to
    the best (room alone when no score is positive). The general fill, the fresh fill and
    single_replica_shares all weigh with this, so that they divide alike."""
    return room * (score / best if best > 0 else 1.0)


def _shrink(
    kept: Mapping[str, int], replicas: int, candidates: Sequence[Candidate], rules: Rules
) -> Division:
    """Remove proportionally to what each cluster holds; a cluster drops to zero rather than
    below per_cluster_min, the best ranked clusters keep their replicas first."""
    rank = {item.cluster: index for index, item in enumerate(candidates)}
    order = sorted(kept, key=lambda cluster: (-kept[cluster], rank.get(cluster, len(rank))))
    floor = max(rules.per_cluster_min, 1)
    chosen = order[: max(replicas, 0) // floor] if rules.per_cluster_min else order
    floors = floor if rules.per_cluster_min else 0
    items = [(cluster, float(kept[cluster] - floors), kept[cluster] - floors) for cluster in chosen]
    extra = apportion(max(replicas, 0) - floors * len(chosen), items)
    totals = {cluster: floors + extra[cluster] for cluster in chosen}
    totals = {cluster: count for cluster, count in totals.items() if count > 0}
    unplaced = max(replicas, 0) - sum(totals.values())
    limits = (
        (f"per_cluster_min {rules.per_cluster_min} leaves {unplaced} replicas",) if unplaced else ()
    )
    return Division(totals, unplaced, limits)
