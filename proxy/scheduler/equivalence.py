"""Equivalence classes: requests that filter and score alike share one cycle's work.

Same quantised shape (rounded up, so a class never under-estimates a member), same
selection (selector, regions, zones, tolerations, preferences), same policy and weights.
Replica counts and division rules are not part of the key: they only matter to division.
"""

from __future__ import annotations

from dataclasses import dataclass

from proxy.scheduler.model import PlacementRequest
from proxy.scheduler.policy import Policy
from proxy.scheduler.resources import Quantity
from proxy.scheduler.selection import Selection


@dataclass(frozen=True)
class ClassKey:
    shape: Quantity
    selection: Selection
    policy: str
    weights: tuple[tuple[str, float], ...]


def class_key(request: PlacementRequest, policy: Policy) -> ClassKey:
    return ClassKey(
        shape=request.shape.ceil_to(policy.shape_grid),
        selection=Selection.from_policy(request.policy),
        policy=policy.name,
        weights=policy.weights(request.policy.weights),
    )
