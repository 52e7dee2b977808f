"""The serving processes' collector: no automatic full collection, one on a schedule."""

from __future__ import annotations

import asyncio
import gc

from common.gc_tuning import LATENCY, full_collections, tune_gc


def test_latency_tuning_leaves_full_collections_to_the_schedule() -> None:
    before = gc.get_threshold()
    try:
        tune_gc(LATENCY)
        young, middle, full = gc.get_threshold()
        assert (young, middle) == (5_000, 10)
        assert full >= 1_000_000
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


async def test_full_collections_run_on_their_interval() -> None:
    collected = asyncio.Event()
    runs: list[int] = []

    def collect() -> int:
        runs.append(1)
        if len(runs) == 2:
            collected.set()
        return 0

    task = asyncio.create_task(full_collections(0.001, collect))
    try:
        await asyncio.wait_for(collected.wait(), timeout=5)
    finally:
        task.cancel()
    assert len(runs) >= 2
