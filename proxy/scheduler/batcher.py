"""A short batching window: requests arriving within a few ms are handled as one batch.

One batch is processed at a time. When the batcher is free and finds a request queued, it
opens the window; the batch closes when the window ends or when it holds `max_size`
requests. Requests that arrive while a batch commits wait for it, then for the window.

A request submitted `at_once` closes an open window (or skips the next): its caller gathered
it with others already, as a follower does with the writes it forwards in one ForwardWrites
call. Waiting out the leader's window too put both waits in series: through a follower at
1,000 placements/s, p50 was 13.8-14.2 ms with it and 6.0 ms without (tools/bench/forwarding).

The window deliberately opens when the batcher is free, not at the first request's arrival.
Opening it at arrival (a request that waited behind a commit goes at once) was measured in
tools/bench/placement.py: p50 at 1,000 placements/s 0.8 ms lower, p99 no better, and 8-12%
fewer placements/s under load, because batches shrank from ~9.5 to ~6 requests and each
batch costs a commit and a watch response.

A batcher per peer (a leader address, a worker) may end itself after `idle_s` without a
request, telling its owner through `on_idle`: peers come and go, and an owner that kept a
batcher, with its task, for each one it ever met would grow without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from common.cancellation import cancel_and_wait

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


@dataclass
class Pending(Generic[ItemT, ResultT]):
    item: ItemT
    future: asyncio.Future[ResultT] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    at_once: bool = False


class Batcher(Generic[ItemT, ResultT]):
    """Requests queue in a plain list; the batching task sleeps on one future per batch
    (woken by the first arrival, then by the window's timer or a full batch), so a request
    costs an append rather than a queue wake-up and a timeout task of its own."""

    def __init__(
        self,
        process: Callable[[list[Pending[ItemT, ResultT]]], Awaitable[None]],
        *,
        window_s: float,
        max_size: int,
        idle_s: float | None = None,
        on_idle: Callable[[], object] | None = None,
        bytes_of: tuple[Callable[[ItemT], int], int] | None = None,
    ) -> None:
        """With `idle_s`, the batcher ends after that long without a request and calls
        `on_idle`, in the same step, so that its owner makes a new one for the next request.
        With `bytes_of` (the size of an item, and the most a batch may hold), a batch also
        stops short of that many bytes: a message over gRPC's limit would fail every request
        in it (one larger than the most goes alone)."""
        self._process = process
        self._window_s = window_s
        self._max_size = max_size
        self._bytes_of = bytes_of
        self._queued_bytes = 0
        """What the queued requests add up to under `bytes_of`."""
        self._idle_s = idle_s
        self._on_idle = on_idle
        self._queued: list[Pending[ItemT, ResultT]] = []
        self._wanted = 1
        """Queued requests that wake the batching task: 1 while it waits for a first one,
        `max_size` while a window is open."""
        self._wakeup: asyncio.Future[None] | None = None
        self._queued_at_once = 0
        """Queued requests submitted `at_once`: while there is one, no window is waited out."""
        self._task: asyncio.Task[None] | None = None
        self._processing: list[Pending[ItemT, ResultT]] = []
        """The batch being processed (a stop fails it too: its callers must not wait forever)."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="batcher")

    async def stop(self, reason: BaseException) -> None:
        """Stop batching; the batch being processed and everything still queued fail with
        `reason`."""
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        unanswered = self._processing + self._queued
        self._processing, self._queued = [], []
        self._queued_bytes = self._queued_at_once = 0
        for pending in unanswered:
            if not pending.future.done():
                pending.future.set_exception(reason)

    async def submit(self, item: ItemT, *, at_once: bool = False) -> ResultT:
        """The request's result, once its batch is processed. `at_once`: the caller batched
        it already; its batch goes without waiting out the window."""
        pending: Pending[ItemT, ResultT] = Pending(item, at_once=at_once)
        self._queued.append(pending)
        if at_once:
            self._queued_at_once += 1
        if self._bytes_of is not None:
            self._queued_bytes += self._bytes_of[0](item)
        if len(self._queued) >= self._wanted or self._full_by_bytes() or at_once:
            self._wake()
        return await pending.future

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def _closes_window(self) -> bool:
        """A window is open and a request submitted `at_once` is queued."""
        return self._wanted > 1 and self._queued_at_once > 0

    def _full_by_bytes(self) -> bool:
        """A window is open and the queue already holds a batch's worth of bytes."""
        return (
            self._bytes_of is not None
            and self._wanted > 1
            and self._queued_bytes >= self._bytes_of[1]
        )

    async def _sleep(self, wanted: int, timeout_s: float | None) -> None:
        """Until `wanted` requests are queued, or a batch's worth of bytes or a request
        submitted `at_once` while a window is open (or the timeout passes)."""
        self._wanted = wanted
        if len(self._queued) >= wanted or self._full_by_bytes() or self._closes_window():
            return
        loop = asyncio.get_running_loop()
        self._wakeup = loop.create_future()
        timer = None if timeout_s is None else loop.call_later(timeout_s, self._wake)
        try:
            await self._wakeup
        finally:
            if timer is not None:
                timer.cancel()
            self._wakeup = None

    async def _run(self) -> None:
        while True:
            await self._sleep(1, self._idle_s)
            if not self._queued:
                self._task = None
                if self._on_idle is not None:
                    self._on_idle()
                return
            await self._sleep(self._max_size, self._window_s)
            batch = self._processing = self._take()
            await self._process_guarded(batch)
            self._processing = []

    def _take(self) -> list[Pending[ItemT, ResultT]]:
        """The next batch off the queue: at most `max_size` requests, and within `bytes_of`."""
        count = min(len(self._queued), self._max_size)
        if self._bytes_of is not None:
            size_of, most = self._bytes_of
            total = 0
            for index in range(count):
                size = size_of(self._queued[index].item)
                if total + size > most and index > 0:
                    count = index
                    break
                total += size
            self._queued_bytes -= total
        batch = self._queued[:count]
        del self._queued[:count]
        if self._queued_at_once:
            self._queued_at_once -= sum(1 for pending in batch if pending.at_once)
        return batch

    async def _process_guarded(self, batch: list[Pending[ItemT, ResultT]]) -> None:
        try:
            await self._process(batch)
        except Exception as exc:
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
        for pending in batch:
            if not pending.future.done():
                pending.future.set_exception(RuntimeError("batch ended without an answer"))


def settle(
    batch: Sequence[Pending[ItemT, ResultT]], outcomes: Sequence[ResultT | BaseException]
) -> None:
    """Answer each request of a processed batch with its own outcome, in order (a request
    whose caller gave up is skipped)."""
    for pending, outcome in zip(batch, outcomes, strict=True):
        if pending.future.done():
            continue
        if isinstance(outcome, BaseException):
            pending.future.set_exception(outcome)
        else:
            pending.future.set_result(outcome)
