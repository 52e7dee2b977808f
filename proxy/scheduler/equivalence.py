"""Equivalence classes: requests that filter and score alike share one cycle's work.

Same quantised shape (rounded up, so a class never under-estimates a member), same
selection (selector, regions, zones, tolerations, preferences), same policy and weights.
Replica counts and division rules are not part of the key: they only matter to division.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from proxy.scheduler.resources import Quantity
from proxy.scheduler.selection import Selection


@dataclass(init=False, eq=True)
class ClassKey:
    """Hashed once: a batch looks its class up by this key for every request."""

    shape: Final[Quantity]
    selection: Final[Selection]
    policy: Final[str]
    weights: Final[tuple[tuple[str, float], ...]]
    _hash: int = field(compare=False, repr=False)

    def __init__(
        self,
        shape: Quantity,
        selection: Selection,
        policy: str,
        weights: tuple[tuple[str, float], ...],
    ) -> None:
        self.shape = shape
        self.selection = selection
        self.policy = policy
        self.weights = weights
        self._hash = hash((shape, selection, policy, weights))

    def __hash__(self) -> int:
        return self._hash
