"""The filter- and score-relevant part of a PlacementPolicy as hashable, typed values."""

from __future__ import annotations

from dataclasses import dataclass

from fed.v1 import types_pb2


@dataclass(frozen=True, slots=True)
class Requirement:
    """A label selector requirement (In, NotIn, Exists, DoesNotExist)."""

    key: str
    operator: str
    values: frozenset[str]


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str
    operator: str
    value: str
    effect: str


@dataclass(frozen=True)
class Selection:
    """Where a workload may go and what it prefers, independent of replica counts."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()
    regions: frozenset[str] = frozenset()
    zones: frozenset[str] = frozenset()
    tolerations: tuple[Toleration, ...] = ()
    preferred_regions: tuple[str, ...] = ()
    preferred_labels: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_policy(cls, policy: types_pb2.PlacementPolicy) -> Selection:
        selector = policy.cluster_selector
        return cls(
            match_labels=tuple(sorted(selector.match_labels.items())),
            match_expressions=tuple(
                Requirement(item.key, item.operator, frozenset(item.values))
                for item in selector.match_expressions
            ),
            regions=frozenset(policy.regions),
            zones=frozenset(policy.zones),
            tolerations=tuple(
                Toleration(item.key, item.operator or "Equal", item.value, item.effect)
                for item in policy.tolerations
            ),
            preferred_regions=tuple(policy.preferred_regions),
            preferred_labels=tuple(sorted(policy.preferred_labels.items())),
        )
