"""Ending background tasks without losing a cancel of the one that ends them."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Task[Any]) -> None:
    """Cancel `tasks` and wait until each has ended; their own CancelledError is expected.

    A cancel of the caller that arrives meanwhile still propagates, once they have ended.
    `with suppress(CancelledError): await task` swallowed it: the caller's cancel is handed
    to the task it awaits, so the CancelledError that then ends the await is both the task's
    and the caller's, and a caller cancelled during a stop went on as if it had not been (a
    task that swallowed its own cancel swallowed the caller's with it). The caller's count of
    pending cancels (Task.cancelling) tells them apart. A task's other exception propagates
    too, once every task has ended: one failing task does not leave the others running.
    """
    caller = asyncio.current_task()
    cancels_before = caller.cancelling() if caller is not None else 0
    for task in tasks:
        task.cancel()
    failures: list[Exception] = []
    for task in tasks:
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # re-raised below, once the other tasks have ended
            failures.append(exc)
    if caller is not None and caller.cancelling() > cancels_before:
        raise asyncio.CancelledError
    if failures:
        raise failures[0]
