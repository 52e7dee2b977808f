"""Equivalence classes: requests that filter and score alike share one cycle's work.

Same quantised shape (rounded up, so a class never under-estimates a member), same
selection (selector, regions, zones, tolerations, preferences), same policy and weights.
Replica counts and division rules are not part of the key: they only matter to division.
"""

from __future__ import annotations

from dataclasses import dataclass

from proxy.scheduler.resources import Quantity
from proxy.scheduler.selection import Selection


@dataclass(frozen=True)
class ClassKey:
    shape: Quantity
    selection: Selection
    policy: str
    weights: tuple[tuple[str, float], ...]
