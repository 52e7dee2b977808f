"""Running plugins: filters in order (first failure wins), scores with normalisation.

A plugin that raises yields an ERROR status (filters) or a zero score (scores) for that
cluster instead of failing the cycle.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Iterable, Mapping, Sequence

from proxy.metrics import PLUGIN_SECONDS
from proxy.scheduler.framework import ClusterState, FilterPlugin, PluginContext, Score, ScorePlugin
from proxy.scheduler.status import Status

SAMPLE_EVERY = 10
"""Each plugin's latency is observed for its first call and one in ten after, as the
Kubernetes scheduler samples its plugin metrics: an observation costs as much as a cheap
filter."""


class _Sampled:
    """One plugin's latency histogram and its call count."""

    def __init__(self, plugin: str, kind: str) -> None:
        self.histogram = PLUGIN_SECONDS.labels(plugin, kind)
        self.calls = itertools.count()

    def start(self) -> float:
        """The clock at a sampled call's start; 0.0 for a call that is not timed."""
        return time.perf_counter() if next(self.calls) % SAMPLE_EVERY == 0 else 0.0

    def stop(self, started: float) -> None:
        if started:
            self.histogram.observe(time.perf_counter() - started)


@functools.cache
def _latency(plugin: str, kind: str) -> _Sampled:
    return _Sampled(plugin, kind)


def run_filter(plugin: FilterPlugin, context: PluginContext, cluster: ClusterState) -> Status:
    latency = _latency(plugin.name, "filter")
    started = latency.start()
    try:
        status = plugin.filter(context, cluster)
    except Exception as error:  # a faulty plugin rejects one cluster, it does not stop the cycle
        status = Status.error(f"plugin failed: {error!r}")
    latency.stop(started)
    return status.by(plugin.name)


def run_filters(
    plugins: Iterable[FilterPlugin], context: PluginContext, cluster: ClusterState
) -> Status:
    """The first failing filter's status, or success."""
    for plugin in plugins:
        status = run_filter(plugin, context, cluster)
        if not status.ok:
            return status
    return Status.success()


def run_score(plugin: ScorePlugin, context: PluginContext, cluster: ClusterState) -> Score:
    latency = _latency(plugin.name, "score")
    started = latency.start()
    try:
        score = plugin.score(context, cluster)
    except Exception as error:  # a faulty plugin scores zero, it does not stop the cycle
        score = Score(0.0, f"plugin failed: {error!r}")
    latency.stop(started)
    return score


def raw_scores(
    plugins: Sequence[ScorePlugin], context: PluginContext, cluster: ClusterState
) -> dict[str, Score]:
    """Per plugin: one cluster's score before normalising."""
    return {plugin.name: run_score(plugin, context, cluster) for plugin in plugins}


def normalised_scores(
    plugins: Sequence[ScorePlugin], raw: Mapping[str, Mapping[str, Score]]
) -> dict[str, dict[str, Score]]:
    """Per cluster, per plugin: the normalised, clamped score, from every cluster's raw
    scores (normalising rescales all feasible clusters together)."""
    result: dict[str, dict[str, Score]] = {name: {} for name in raw}
    for plugin in plugins:
        column = {name: scores[plugin.name] for name, scores in raw.items()}
        for name, score in _normalised(plugin, column).items():
            result[name][plugin.name] = score.clamped()
    return result


def run_scores(
    plugins: Sequence[ScorePlugin], context: PluginContext, clusters: Sequence[ClusterState]
) -> dict[str, dict[str, Score]]:
    """Per cluster, per plugin: the normalised, clamped score."""
    raw = {cluster.name: raw_scores(plugins, context, cluster) for cluster in clusters}
    return normalised_scores(plugins, raw)


def _normalised(plugin: ScorePlugin, raw: Mapping[str, Score]) -> Mapping[str, Score]:
    try:
        return plugin.normalize(raw)
    except Exception as error:  # a faulty normalise scores zero, it does not stop the cycle
        return {name: Score(0.0, f"normalise failed: {error!r}") for name in raw}


def weighted_total(scores: Mapping[str, Score], weights: Mapping[str, float]) -> float:
    return sum(weights.get(name, 0.0) * score.value for name, score in scores.items())
