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


async def full_collections(interval_s: float, collect: Callable[[], object] = gc.collect) -> None:
    """A full collection every `interval_s`, for a process tuned with LATENCY: what becomes
    cyclic garbage after surviving the young generations is little (a few hundred objects
    per collection in the placement bench), so a fixed, rare schedule bounds both that
    memory and how often the pause comes."""
    while True:
        await asyncio.sleep(interval_s)
        collect()
