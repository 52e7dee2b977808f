"""Static filter verdicts and raw class scores per cluster, kept from one cycle to the next.

What a class's static filters and class-level score plugins say about a cluster depends only
on the cluster's spec, status and health and on its capacity. While those are the same (a
status whose heartbeat time alone moved counts as the same), a new cycle reuses the previous
results and runs the plugins again only for the clusters that changed: a batch that touches
a few clusters of a large fleet costs a few plugin calls, not one per cluster. Normalising
and weighting run over every cluster again only when a result's verdict or raw scores moved
(see Cycle._build_class).

Scores are heuristics, so a result also stays current while the cluster's reservations have
moved by at most SCORE_SLACK of its capacity limit in every dimension: a busy fleet whose
every cluster takes a few small replicas per batch would otherwise re-score all of them in
every batch. Whether replicas fit is never taken from here (the fit filter is dynamic and
runs against the ledger as it is).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fed.v1 import types_pb2
from proxy.ledger import Ledger
from proxy.scheduler.equivalence import ClassKey
from proxy.scheduler.framework import Score
from proxy.scheduler.model import ClusterView
from proxy.scheduler.resources import ZERO, Quantity
from proxy.scheduler.status import Status

if TYPE_CHECKING:
    from proxy.scheduler.cycle import EquivalenceClass

SCORE_SLACK = 0.01
"""Reservations may drift this share of a cluster's limit before its scores are recomputed."""

MAX_CLASSES = 1024
"""Classes remembered (least recently used go first): a few hundred shapes x policies is a
large fleet's working set."""


@dataclass(frozen=True, slots=True)
class ClusterResult:
    """One cluster's static verdict and raw class scores (empty when it was rejected)."""

    spec: types_pb2.ClusterSpec
    status: types_pb2.ClusterStatus | None
    health: types_pb2.ClusterHealth.ValueType
    ledger: Ledger
    generation: int
    verdict: Status
    raw: Mapping[str, Score]
    idle_raw: Mapping[str, Score]
    """Raw per-request scores of a request that holds nothing yet."""
    reserved: Quantity = ZERO
    """The cluster's reserved total when the scores were computed."""
    slack: Quantity = ZERO
    """How far that total may drift, per dimension, before the scores are stale."""

    def current(self, view: ClusterView, ledger: Ledger) -> bool:
        """Computed from the same spec, status (its heartbeat time aside) and health, and
        reservations within slack."""
        if not (
            self.spec is view.spec
            and self.health == view.health
            and self.ledger is ledger
            and (self.status is view.status or _same_but_heartbeat(self.status, view.status))
        ):
            return False
        name = view.name
        if self.generation == ledger.generation(name):
            return True
        now, then, slack = ledger.reserved(name), self.reserved, self.slack
        return (
            abs(now.cpu_millis - then.cpu_millis) <= slack.cpu_millis
            and abs(now.memory_bytes - then.memory_bytes) <= slack.memory_bytes
            and abs(now.gpu - then.gpu) <= slack.gpu
            and abs(now.pods - then.pods) <= slack.pods
        )

    def scores_like(self, other: ClusterResult) -> bool:
        """The same verdict and raw scores: a class normalised over these results would
        come out the same (a status whose heartbeat alone moved, a re-scored cluster whose
        scores did not change)."""
        return (
            self.verdict == other.verdict
            and self.raw == other.raw
            and self.idle_raw == other.idle_raw
        )


def _same_but_heartbeat(
    before: types_pb2.ClusterStatus | None, after: types_pb2.ClusterStatus | None
) -> bool:
    """Equal statuses but for the heartbeat time, which no plugin reads (a cluster's health,
    which it decides, is compared on its own): a worker publishing an unchanged cluster
    every few seconds does not get it re-scored, nor the class normalised again."""
    if before is None or after is None:
        return before is after
    if before.heartbeat == after.heartbeat:
        return before == after
    moved = types_pb2.ClusterStatus()
    moved.CopyFrom(after)
    if before.HasField("heartbeat"):
        moved.heartbeat.CopyFrom(before.heartbeat)
    else:
        moved.ClearField("heartbeat")
    return before == moved


DynamicResult = tuple[ClusterView, Ledger, int, Status, int]
"""A cluster's dynamic verdict and the replicas of the class's shape that fit, with what they
were computed from: the view, the ledger and its generation for the cluster."""


@dataclass
class ClassEntry:
    """What is remembered of one class: per cluster, the static and the dynamic results, and
    the class last built from them over `built_views` (reused while no result changed)."""

    results: dict[str, ClusterResult] = field(default_factory=dict)
    dynamic: dict[str, DynamicResult] = field(default_factory=dict)
    built: EquivalenceClass | None = None
    built_views: tuple[ClusterView, ...] = ()


class ClassMemo:
    """Per equivalence class, the last results for each cluster."""

    def __init__(self, max_classes: int = MAX_CLASSES) -> None:
        self._max_classes = max_classes
        self._classes: OrderedDict[ClassKey, ClassEntry] = OrderedDict()

    def entry(self, key: ClassKey) -> ClassEntry:
        found = self._classes.get(key)
        if found is None:
            found = self._classes[key] = ClassEntry()
            while len(self._classes) > self._max_classes:
                self._classes.popitem(last=False)
        else:
            self._classes.move_to_end(key)
        return found

    def clear(self) -> None:
        """Forget everything (the policies behind the class keys changed)."""
        self._classes.clear()
