"""The serving processes' collector: no automatic full collection, one on a schedule."""

from __future__ import annotations

import asyncio
import gc
import weakref

from common.gc_tuning import (
    LATENCY,
    _freeze_after_young,
    freeze_young_survivors,
    full_collections,
    tune_gc,
)


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
        gc.unfreeze()
    assert len(runs) >= 2


class Node:
    """A container the collector tracks, able to form a cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


def test_what_survives_a_young_collection_is_frozen_and_a_full_collection_frees_it() -> None:
    freeze_young_survivors()
    try:
        first, second = Node(), Node()
        first.other, second.other = second, first
        freed = weakref.finalize(first, lambda: None)
        before = gc.get_freeze_count()
        gc.collect(0)
        assert gc.get_freeze_count() > before, "the survivors left the young generation"

        del first, second  # garbage now, but frozen: collections leave it alone
        gc.collect()
        assert freed.alive
        asyncio.run(one_full_collection())
        assert not freed.alive, "a full collection unfreezes first"
    finally:
        gc.callbacks.remove(_freeze_after_young)
        gc.unfreeze()


async def one_full_collection() -> None:
    done = asyncio.Event()

    def collect() -> None:
        gc.collect()
        done.set()

    task = asyncio.create_task(full_collections(0.001, collect))
    try:
        await asyncio.wait_for(done.wait(), timeout=5)
    finally:
        task.cancel()
