"""The event loop's lag, and its cause: the loop's thread waiting for a CPU, or busy."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from common.loop_lag import BUSY, WAITING, cause, parse_schedstat, watch_loop_lag

PERIOD_S = 0.05
STALL_S = 0.15


def test_a_lag_spent_mostly_waiting_for_a_cpu_is_waiting_and_else_busy() -> None:
    assert cause(lag_s=0.010, waiting_s=0.006) == WAITING
    assert cause(lag_s=0.010, waiting_s=0.001) == BUSY


def test_schedstat_gives_the_seconds_on_a_cpu_and_waiting_for_one() -> None:
    assert parse_schedstat(b"65664 1706660 2\n") == (0.000065664, 0.00170666)


async def lag_of_a_stall(stall: Callable[[], None]) -> tuple[float, float]:
    """Let one lag sample pass, stall the loop right after it, and return the next one."""
    samples: list[tuple[float, float]] = []
    observed = asyncio.Event()

    def observe(lag_s: float, waiting_s: float) -> None:
        samples.append((lag_s, waiting_s))
        observed.set()

    task = asyncio.create_task(watch_loop_lag(PERIOD_S, observe))
    try:
        await asyncio.wait_for(observed.wait(), timeout=5)
        observed.clear()
        stall()
        await asyncio.wait_for(observed.wait(), timeout=5)
    finally:
        task.cancel()
    return samples[-1]


async def test_a_blocking_call_is_a_lag_of_the_whole_stall() -> None:
    lag, waiting = await lag_of_a_stall(lambda: time.sleep(STALL_S))
    assert lag >= STALL_S - PERIOD_S
    assert cause(lag, waiting) == BUSY, "asleep, the thread did not wait for a CPU"
