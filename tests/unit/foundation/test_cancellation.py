"""cancel_and_wait: the tasks end, and a cancel of the caller is never lost."""

from __future__ import annotations

import asyncio

import pytest

from common.cancellation import cancel_and_wait


async def _slow_to_end(cancelled: asyncio.Event, may_end: asyncio.Event, *, swallow: bool) -> None:
    """Runs until cancelled, then tells so and waits for `may_end` (a cleanup under way);
    with `swallow`, ends normally instead of with its CancelledError."""
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        cancelled.set()
        await may_end.wait()
        if not swallow:
            raise


@pytest.mark.parametrize("swallow", [False, True])
async def test_a_cancel_of_the_caller_propagates_once_the_task_ended(swallow: bool) -> None:
    cancelled, may_end = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(_slow_to_end(cancelled, may_end, swallow=swallow))
    await asyncio.sleep(0)  # the task starts waiting
    stopping = asyncio.create_task(cancel_and_wait(task))
    await cancelled.wait()
    stopping.cancel()
    may_end.set()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    assert task.done()


async def test_a_cleanup_during_the_callers_own_cancel_runs_to_its_end() -> None:
    """Stopping tasks from a caller that is being cancelled already (its cleanup) waits for
    every task and raises nothing by itself: the caller's cancel is its own to re-raise."""
    tasks = [asyncio.create_task(asyncio.Event().wait()) for _ in range(3)]
    cleaned_up = asyncio.Event()

    async def caller() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await cancel_and_wait(*tasks)
            cleaned_up.set()
            raise

    running = asyncio.create_task(caller())
    await asyncio.sleep(0)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert cleaned_up.is_set()
    assert all(task.cancelled() for task in tasks)


async def test_ended_tasks_and_other_errors() -> None:
    async def fails() -> None:
        raise ValueError("broken")

    done = asyncio.create_task(asyncio.sleep(0))
    await done
    await cancel_and_wait(done)
    failing = asyncio.create_task(fails())
    running = asyncio.create_task(asyncio.Event().wait())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="broken"):
        await cancel_and_wait(failing, running)
    assert running.cancelled()  # the failure surfaced only once the other task had ended
