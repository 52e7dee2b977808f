"""Each cluster's score breakdown in the most recent scheduling batch that scored it.

This is what `ClusterInfo.last_scores` shows. The leader records it once per equivalence
class per batch, by reference to the scores the cycle computed anyway (one small dict entry
per scored cluster, in memory only: no copy, no etcd write), and builds the PluginScore
messages only when a GetCluster or ListClusters asks. Only placements and scales are
recorded (not explanations, dry runs or moves), and only class-level plugins: a per-request
plugin (steadiness) scores each request's own current placement, not the cluster.

The memory is the leader's own: followers, and a new leader before its first batch, have
none to show, and a replica that loses the leadership forgets it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from fed.v1 import federation_pb2
from proxy.scheduler.framework import Score


class ScoredClass(Protocol):
    """What is recorded of an equivalence class (proxy.scheduler.cycle.EquivalenceClass)."""

    @property
    def scores(self) -> Mapping[str, Mapping[str, Score]]: ...

    @property
    def weights(self) -> Mapping[str, float]: ...


class LastScores:
    def __init__(self) -> None:
        self._latest: dict[str, tuple[Mapping[str, Score], Mapping[str, float]]] = {}

    def record(self, classes: Iterable[ScoredClass]) -> None:
        """Remember, for every cluster the classes scored, its scores and their weights."""
        for found in classes:
            weights = found.weights
            self._latest.update((name, (scores, weights)) for name, scores in found.scores.items())

    def get(self, cluster: str) -> list[federation_pb2.PluginScore]:
        """The cluster's latest breakdown, in the policy's plugin order; empty if none."""
        entry = self._latest.get(cluster)
        if entry is None:
            return []
        scores, weights = entry
        return [
            federation_pb2.PluginScore(
                plugin=name, score=score.value, weight=weights.get(name, 0.0), reason=score.reason
            )
            for name, score in scores.items()
        ]

    def clear(self) -> None:
        self._latest.clear()

    def __len__(self) -> int:
        return len(self._latest)
