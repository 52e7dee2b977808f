"""The event loop's lag, and its cause: a long callback (busy) or a thread off CPU (waiting)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from common.loop_lag import BUSY, WAITING, cause, watch_loop_lag

PERIOD_S = 0.05
STALL_S = 0.15


def test_a_lag_the_thread_spent_on_a_cpu_is_busy_and_one_off_cpu_is_waiting() -> None:
    assert cause(lag_s=0.010, cpu_s=0.012) == BUSY
    assert cause(lag_s=0.010, cpu_s=0.001) == WAITING


async def lag_of_a_stall(stall: Callable[[], None]) -> tuple[float, float]:
    """Let one lag sample pass, stall the loop right after it, and return the next one."""
    samples: list[tuple[float, float]] = []
    observed = asyncio.Event()

    def observe(lag_s: float, cpu_s: float) -> None:
        samples.append((lag_s, cpu_s))
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


def spin() -> None:
    deadline = time.perf_counter() + STALL_S
    while time.perf_counter() < deadline:
        pass


async def test_a_long_callback_is_a_busy_lag() -> None:
    lag, cpu = await lag_of_a_stall(spin)
    assert lag >= STALL_S - PERIOD_S
    assert cause(lag, cpu) == BUSY


async def test_a_blocked_thread_is_a_waiting_lag() -> None:
    lag, cpu = await lag_of_a_stall(lambda: time.sleep(STALL_S))
    assert lag >= STALL_S - PERIOD_S
    assert cause(lag, cpu) == WAITING
