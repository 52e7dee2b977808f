"""A short batching window: requests arriving within a few ms are handled as one batch.

The first request of a batch opens the window; the batch closes when the window ends or
when it holds `max_size` requests. One batch is processed at a time, so the next window
fills while the previous batch commits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


@dataclass
class Pending(Generic[ItemT, ResultT]):
    item: ItemT
    future: asyncio.Future[ResultT] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Batcher(Generic[ItemT, ResultT]):
    def __init__(
        self,
        process: Callable[[list[Pending[ItemT, ResultT]]], Awaitable[None]],
        *,
        window_s: float,
        max_size: int,
    ) -> None:
        self._process = process
        self._window_s = window_s
        self._max_size = max_size
        self._queue: asyncio.Queue[Pending[ItemT, ResultT]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="batcher")

    async def stop(self, reason: BaseException) -> None:
        """Stop batching; everything still queued fails with `reason`."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(reason)

    async def submit(self, item: ItemT) -> ResultT:
        pending: Pending[ItemT, ResultT] = Pending(item)
        self._queue.put_nowait(pending)
        return await pending.future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            deadline = asyncio.get_running_loop().time() + self._window_s
            while len(batch) < self._max_size:
                if not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                    continue
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
            await self._process_guarded(batch)

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
