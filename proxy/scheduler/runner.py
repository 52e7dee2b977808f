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
"""Each plugin's latency is observed for its first filter call and one in ten after, as the
Kubernetes scheduler samples its plugin metrics: an observation costs as much as a cheap
filter."""


class _Sampled:
    """One plugin's latency histogram and its call count."""

    def __init__(self, plugin: str, kind: str) -> None:
        self.histogram = PLUGIN_SECONDS.labels(plugin, kind)
        self.calls = itertools.count()


@functools.cache
def _latency(plugin: str, kind: str) -> _Sampled:
    return _Sampled(plugin, kind)


def run_filter(plugin: FilterPlugin, context: PluginContext, cluster: ClusterState) -> Status:
    latency = _latency(plugin.name, "filter")
    sampled = next(latency.calls) % SAMPLE_EVERY == 0
    started = time.perf_counter() if sampled else 0.0
    try:
        status = plugin.filter(context, cluster)
    except Exception as error:  # a faulty plugin rejects one cluster, it does not stop the cycle
        status = Status.error(f"plugin failed: {error!r}")
    if sampled:
        latency.histogram.observe(time.perf_counter() - started)
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
    try:
        return plugin.score(context, cluster)
    except Exception as error:  # a faulty plugin scores zero, it does not stop the cycle
        return Score(0.0, f"plugin failed: {error!r}")


def run_scores(
    plugins: Sequence[ScorePlugin], context: PluginContext, clusters: Sequence[ClusterState]
) -> dict[str, dict[str, Score]]:
    """Per cluster, per plugin: the normalised, clamped score."""
    result: dict[str, dict[str, Score]] = {cluster.name: {} for cluster in clusters}
    for plugin in plugins:
        started = time.perf_counter()
        raw = {cluster.name: run_score(plugin, context, cluster) for cluster in clusters}
        _latency(plugin.name, "score").histogram.observe(time.perf_counter() - started)
        for name, score in _normalised(plugin, raw).items():
            result[name][plugin.name] = score.clamped()
    return result


def _normalised(plugin: ScorePlugin, raw: Mapping[str, Score]) -> Mapping[str, Score]:
    try:
        return plugin.normalize(raw)
    except Exception as error:  # a faulty normalise scores zero, it does not stop the cycle
        return {name: Score(0.0, f"normalise failed: {error!r}") for name in raw}


def weighted_total(scores: Mapping[str, Score], weights: Mapping[str, float]) -> float:
    return sum(weights.get(name, 0.0) * score.value for name, score in scores.items())
