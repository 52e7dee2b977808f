"""The n largest of many values, without sorting them all: a request picks a few clusters of
a large fleet."""

from __future__ import annotations

SMALL_N = 16
"""Up to this n, one pass keeping the n largest so far; above it, a sort."""


def nth_largest(values: list[float], n: int) -> float:
    """The n-th largest value (1 <= n <= len(values))."""
    if n > SMALL_N:
        return sorted(values, reverse=True)[n - 1]
    top: list[float] = []  # the n largest so far, largest first
    for value in values:
        if len(top) == n:
            if value <= top[-1]:
                continue
            top.pop()
        at = len(top)
        while at > 0 and top[at - 1] < value:
            at -= 1
        top.insert(at, value)
    return top[-1]


def split_at_nth(values: list[float], n: int) -> tuple[list[int], list[int]]:
    """Positions of the values above the n-th largest, and of those equal to it (in
    position order): the first list and `n - len(first)` of the tied are the n largest."""
    cut = nth_largest(values, n)
    above = [index for index, value in enumerate(values) if value > cut]
    tied = [index for index, value in enumerate(values) if value == cut]
    return above, tied


def largest_positions(values: list[float], n: int) -> list[int]:
    """Positions of the n largest values, equal values taken in position order (what a
    stable sort by value, largest first, puts first)."""
    if n >= len(values):
        return list(range(len(values)))
    above, tied = split_at_nth(values, n)
    return above + tied[: n - len(above)]
