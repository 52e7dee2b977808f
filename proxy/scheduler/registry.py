"""The plugin registry: name -> constructor and argument type, for filters and scores."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from proxy.scheduler.framework import FilterPlugin, ScorePlugin
from proxy.scheduler.plugins.balanced import BalancedScore
from proxy.scheduler.plugins.cluster_selector import ClusterSelectorFilter
from proxy.scheduler.plugins.cluster_state import ClusterStateFilter
from proxy.scheduler.plugins.fit import FitFilter
from proxy.scheduler.plugins.fragmentation import FragmentationScore
from proxy.scheduler.plugins.free_capacity import FreeCapacityScore
from proxy.scheduler.plugins.health import HealthScore
from proxy.scheduler.plugins.hotspot import HotspotScore
from proxy.scheduler.plugins.locality import LocalityScore
from proxy.scheduler.plugins.steadiness import SteadinessScore
from proxy.scheduler.plugins.taint_toleration import TaintTolerationFilter, TaintTolerationScore
from proxy.scheduler.plugins.topology_affinity import TopologyAffinityFilter
from proxy.scheduler.policy import HealthArgs, HotspotArgs, NoArgs, PluginArgs, Policy

PluginT = TypeVar("PluginT", FilterPlugin, ScorePlugin)


@dataclass(frozen=True)
class Entry(Generic[PluginT]):
    """How to build one plugin from its typed arguments."""

    args: type[PluginArgs]
    build: Callable[[PluginArgs], PluginT]


class Registry:
    """Known plugins by name; validates policies against them and instantiates them."""

    def __init__(self) -> None:
        self._filters: dict[str, Entry[FilterPlugin]] = {}
        self._scores: dict[str, Entry[ScorePlugin]] = {}

    def add_filter(self, name: str, entry: Entry[FilterPlugin]) -> None:
        self._filters[name] = entry

    def add_score(self, name: str, entry: Entry[ScorePlugin]) -> None:
        self._scores[name] = entry

    def filter_args(self, name: str) -> type[PluginArgs] | None:
        entry = self._filters.get(name)
        return entry.args if entry is not None else None

    def score_args(self, name: str) -> type[PluginArgs] | None:
        entry = self._scores.get(name)
        return entry.args if entry is not None else None

    def score_names(self) -> frozenset[str]:
        return frozenset(self._scores)

    def filters(self, policy: Policy) -> tuple[FilterPlugin, ...]:
        return tuple(self._filters[spec.name].build(spec.args) for spec in policy.filters)

    def scores(self, policy: Policy) -> tuple[ScorePlugin, ...]:
        return tuple(self._scores[spec.name].build(spec.args) for spec in policy.scores)


def _plain(plugin: Callable[[], PluginT]) -> Entry[PluginT]:
    return Entry(NoArgs, lambda _args: plugin())


def _health(args: PluginArgs) -> ScorePlugin:
    return HealthScore(args if isinstance(args, HealthArgs) else HealthArgs())


def _hotspot(args: PluginArgs) -> ScorePlugin:
    return HotspotScore(args if isinstance(args, HotspotArgs) else HotspotArgs())


def default_registry() -> Registry:
    """Every built-in plugin."""
    registry = Registry()
    for name, filter_type in (
        ("cluster_state", ClusterStateFilter),
        ("taint_toleration", TaintTolerationFilter),
        ("cluster_selector", ClusterSelectorFilter),
        ("topology_affinity", TopologyAffinityFilter),
        ("fit", FitFilter),
    ):
        registry.add_filter(name, _plain(filter_type))
    for name, score_type in (
        ("free_capacity", FreeCapacityScore),
        ("balanced", BalancedScore),
        ("fragmentation", FragmentationScore),
        ("locality", LocalityScore),
        ("steadiness", SteadinessScore),
        ("taint_toleration", TaintTolerationScore),
    ):
        registry.add_score(name, _plain(score_type))
    registry.add_score("health", Entry(HealthArgs, _health))
    registry.add_score("hotspot", Entry(HotspotArgs, _hotspot))
    return registry
