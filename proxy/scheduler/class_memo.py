"""Static filter verdicts and raw class scores per cluster, kept from one cycle to the next.

What a class's static filters and class-level score plugins say about a cluster depends only
on the cluster's spec, status and health and on its capacity, which changes only with the
ledger's generation for that cluster. While those are the same, a new cycle reuses the
previous results and runs the plugins again only for the clusters that changed: a batch that
touches a few clusters of a large fleet costs a few plugin calls, not one per cluster.
Normalising and weighting still run over every cluster in each cycle.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from fed.v1 import types_pb2
from proxy.ledger import Ledger
from proxy.scheduler.equivalence import ClassKey
from proxy.scheduler.framework import Score
from proxy.scheduler.model import ClusterView
from proxy.scheduler.status import Status

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

    def current(self, view: ClusterView, ledger: Ledger) -> bool:
        """Computed from the same inputs the cluster has now."""
        return (
            self.spec is view.spec
            and self.status is view.status
            and self.health == view.health
            and self.ledger is ledger
            and self.generation == ledger.generation(view.name)
        )


class ClassMemo:
    """Per equivalence class, the last result for each cluster."""

    def __init__(self, max_classes: int = MAX_CLASSES) -> None:
        self._max_classes = max_classes
        self._classes: OrderedDict[ClassKey, dict[str, ClusterResult]] = OrderedDict()

    def results(self, key: ClassKey) -> Mapping[str, ClusterResult]:
        found = self._classes.get(key)
        if found is None:
            return {}
        self._classes.move_to_end(key)
        return found

    def store(self, key: ClassKey, results: dict[str, ClusterResult]) -> None:
        self._classes[key] = results
        self._classes.move_to_end(key)
        while len(self._classes) > self._max_classes:
            self._classes.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (the policies behind the class keys changed)."""
        self._classes.clear()
