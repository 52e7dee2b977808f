"""The cyclic garbage collector's settings for long-running serving processes."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

THROUGHPUT = (50_000, 20, 50)
"""Rare collections (the young generation after 50,000 allocations instead of 700): the
least CPU, with pauses of tens of ms once a large state accumulates (kubesim)."""

LATENCY = (5_000, 10, 1_000_000)
"""Small, more frequent young collections (with automatic full collections still on, the
proxy's p99 at 1,000 placements/s was 14 ms with these young thresholds against 31 ms with
THROUGHPUT's). No automatic full collection: one walks every record the leader holds
(protobuf messages are tracked by the collector), a pause that grows with the fleet (39.8 ms
in the placement bench, where ~51,000 objects were tracked midway through the run) and came
whenever the records had grown by a quarter. A serving process runs `full_collections`."""


def tune_gc(thresholds: tuple[int, int, int]) -> None:
    """Make the cyclic collector cheap for a serving process. Its state (kubesim's JSON
    trees, the proxy's records and ledger) has few reference cycles and only accumulates, yet
    the default thresholds walk it again and again while requests allocate short-lived
    objects by the thousand. What startup built is frozen out of the scans."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)


def freeze_young_survivors() -> None:
    """After every young collection, move what survived it out of the collector's scans
    (gc.freeze: a list splice). A serving process keeps what survives (records, ledger
    entries), and a collection of the middle generation walked up to ten young generations'
    worth of them again: 4-8 ms pauses once the leader held ~13,000 workloads, and the slowest
    calls at 1,000 placements/s waited behind them. Garbage cycles still die young; one that
    forms among frozen objects waits for `full_collections`, as it waited in the oldest
    generation before."""
    if _freeze_after_young not in gc.callbacks:
        gc.callbacks.append(_freeze_after_young)


def _freeze_after_young(phase: str, info: dict[str, int]) -> None:
    if phase == "stop" and info["generation"] < 2:
        gc.freeze()


async def full_collections(interval_s: float, collect: Callable[[], object] = gc.collect) -> None:
    """A full collection every `interval_s`, for a process tuned with LATENCY: what becomes
    cyclic garbage after surviving the young generations is little (a few hundred objects
    per collection in the placement bench), so a fixed, rare schedule bounds both that
    memory and how often the pause comes. Frozen objects are collected too (unfrozen for
    it, frozen again after)."""
    while True:
        await asyncio.sleep(interval_s)
        gc.unfreeze()
        try:
            collect()
        finally:
            gc.freeze()
