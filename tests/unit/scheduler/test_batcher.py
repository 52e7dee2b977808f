"""The batching window: what is already queued joins the batch at once, up to the cap."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from proxy.scheduler.batcher import Batcher, Pending

Process = Callable[[list[Pending[int, int]]], Awaitable[None]]


def echoing(batches: list[list[int]]) -> Process:
    """Records each batch's items and answers each request with its item."""

    async def process(batch: list[Pending[int, int]]) -> None:
        batches.append([pending.item for pending in batch])
        for pending in batch:
            pending.future.set_result(pending.item)

    return process


async def test_queued_requests_form_one_batch_capped_at_max_size() -> None:
    batches: list[list[int]] = []

    async def process(batch: list[Pending[int, int]]) -> None:
        batches.append([pending.item for pending in batch])
        for pending in batch:
            pending.future.set_result(pending.item * 10)

    batcher: Batcher[int, int] = Batcher(process, window_s=60.0, max_size=3)
    submitted = [asyncio.ensure_future(batcher.submit(item)) for item in range(5)]
    batcher.start()  # its task runs after the five submits have queued their items
    assert await asyncio.gather(*submitted[:3]) == [0, 10, 20]
    assert batches == [[0, 1, 2]]
    await batcher.stop(RuntimeError("stopped"))


async def test_a_lone_request_waits_out_the_window_then_goes_alone() -> None:
    sizes: list[int] = []

    async def process(batch: list[Pending[int, int]]) -> None:
        sizes.append(len(batch))
        for pending in batch:
            pending.future.set_result(pending.item)

    batcher: Batcher[int, int] = Batcher(process, window_s=0.001, max_size=10)
    batcher.start()
    assert await batcher.submit(7) == 7
    assert sizes == [1]
    await batcher.stop(RuntimeError("stopped"))


async def test_stopping_fails_the_batch_being_processed_and_the_queued_ones() -> None:
    processing = asyncio.Event()

    async def process(batch: list[Pending[int, int]]) -> None:
        processing.set()
        await asyncio.Event().wait()  # a commit that never returns

    batcher: Batcher[int, int] = Batcher(process, window_s=0.001, max_size=1)
    batcher.start()
    in_flight = asyncio.ensure_future(batcher.submit(1))
    await processing.wait()
    queued = asyncio.ensure_future(batcher.submit(2))
    await asyncio.sleep(0)
    await batcher.stop(RuntimeError("leadership lost"))
    for call in (in_flight, queued):
        with pytest.raises(RuntimeError, match="leadership lost"):
            await asyncio.wait_for(call, timeout=5)


async def test_an_idle_batcher_ends_after_its_work_is_answered_and_tells_its_owner() -> None:
    processing, release, ended = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def process(batch: list[Pending[int, int]]) -> None:
        processing.set()
        await release.wait()
        for pending in batch:
            pending.future.set_result(pending.item)

    batcher: Batcher[int, int] = Batcher(
        process, window_s=0.0, max_size=10, idle_s=0.001, on_idle=ended.set
    )
    batcher.start()
    call = asyncio.ensure_future(batcher.submit(7))
    await processing.wait()
    assert not ended.is_set(), "a batch in process is not idleness, however long it takes"
    release.set()
    assert await call == 7
    await asyncio.wait_for(ended.wait(), timeout=5)
    await batcher.stop(RuntimeError("stopped"))


async def test_a_batch_stops_short_of_its_byte_limit_and_a_larger_request_goes_alone() -> None:
    batches: list[list[int]] = []
    process = echoing(batches)
    batcher: Batcher[int, int] = Batcher(
        process, window_s=60.0, max_size=10, bytes_of=(lambda size: size, 4)
    )
    submitted = [asyncio.ensure_future(batcher.submit(size)) for size in (2, 2, 5, 1, 3)]
    batcher.start()
    assert await asyncio.gather(*submitted) == [2, 2, 5, 1, 3]
    assert batches == [[2, 2], [5], [1, 3]]
    await batcher.stop(RuntimeError("stopped"))


async def _until_idle() -> None:
    """Let every task that can run, run: a batcher that waits out a 60 s window waits in it."""
    for _ in range(10):
        await asyncio.sleep(0)


@pytest.mark.parametrize("window_waited_in", [False, True])
async def test_a_request_submitted_at_once_closes_the_open_window(window_waited_in: bool) -> None:
    """A follower's forwarded batch does not wait out the leader's window (60 s here): it
    closes the window whether it comes before the batcher waits in it or while it does."""
    batches: list[list[int]] = []
    batcher: Batcher[int, int] = Batcher(echoing(batches), window_s=60.0, max_size=10)
    batcher.start()
    waiting = asyncio.ensure_future(batcher.submit(1))
    if window_waited_in:
        await _until_idle()
        assert batches == []  # request 1 waits in the open window
    forwarded = asyncio.ensure_future(batcher.submit(2, at_once=True))
    assert await asyncio.wait_for(asyncio.gather(waiting, forwarded), timeout=5) == [1, 2]
    assert batches == [[1, 2]]
    await batcher.stop(RuntimeError("stopped"))


async def test_requests_at_once_that_the_cap_leaves_queued_skip_the_next_window_too() -> None:
    batches: list[list[int]] = []
    process = echoing(batches)
    batcher: Batcher[int, int] = Batcher(process, window_s=60.0, max_size=2)
    submitted = [asyncio.ensure_future(batcher.submit(item, at_once=True)) for item in range(3)]
    batcher.start()
    assert await asyncio.wait_for(asyncio.gather(*submitted), timeout=5) == [0, 1, 2]
    assert batches == [[0, 1], [2]]
    await batcher.stop(RuntimeError("stopped"))


async def test_after_a_batch_at_once_the_next_requests_wait_out_the_window_again() -> None:
    batches: list[list[int]] = []
    batcher: Batcher[int, int] = Batcher(echoing(batches), window_s=60.0, max_size=10)
    batcher.start()
    assert await asyncio.wait_for(batcher.submit(1, at_once=True), timeout=5) == 1
    later = [asyncio.ensure_future(batcher.submit(item)) for item in (2, 3)]
    await _until_idle()
    assert batches == [[1]]  # 2 and 3 wait in the window
    closing = asyncio.ensure_future(batcher.submit(4, at_once=True))
    assert await asyncio.wait_for(asyncio.gather(*later, closing), timeout=5) == [2, 3, 4]
    assert batches == [[1], [2, 3, 4]]
    await batcher.stop(RuntimeError("stopped"))
