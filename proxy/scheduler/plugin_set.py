"""A policy's instantiated plugins, split by when they run in a cycle."""

from __future__ import annotations

from dataclasses import dataclass

from proxy.scheduler.framework import FilterPlugin, ScorePlugin
from proxy.scheduler.policy import Policy
from proxy.scheduler.registry import Registry


@dataclass(frozen=True)
class PluginSet:
    """Static filters run once per class, dynamic ones (ledger-dependent) per request; class
    scores once per class, request scores (current placement) per request."""

    policy: Policy
    filters: tuple[FilterPlugin, ...]
    static_filters: tuple[FilterPlugin, ...]
    dynamic_filters: tuple[FilterPlugin, ...]
    class_scores: tuple[ScorePlugin, ...]
    request_scores: tuple[ScorePlugin, ...]

    @classmethod
    def build(cls, policy: Policy, registry: Registry) -> PluginSet:
        filters = registry.filters(policy)
        scores = registry.scores(policy)
        return cls(
            policy=policy,
            filters=filters,
            static_filters=tuple(plugin for plugin in filters if not plugin.dynamic),
            dynamic_filters=tuple(plugin for plugin in filters if plugin.dynamic),
            class_scores=tuple(plugin for plugin in scores if not plugin.per_request),
            request_scores=tuple(plugin for plugin in scores if plugin.per_request),
        )
