"""How late the event loop runs what is due: a serving process's stall signal.

A task sleeps `period_s` again and again; how much later than asked it wakes is the lag
that any callback due at that moment suffered too. Each lag is reported with its likely
cause: "busy" when the loop's thread spent at least the lag on a CPU during that sleep (a
long callback, a garbage collection), else "waiting" (the thread was off CPU for most of it:
waiting for a core on a crowded machine, or blocked). Requests stall by the same amount, so
the lags over a few ms are what a latency tail is made of when the work itself is short.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from common.metrics import EVENT_LOOP_LAG

PERIOD_S = 0.01
"""A hundred wake-ups a second: under 0.1% of a core, and most stalls of a few ms seen."""

BUSY = "busy"
WAITING = "waiting"


def cause(lag_s: float, cpu_s: float) -> str:
    """Whether the loop's thread ran for at least the lag while it slept (busy)."""
    return BUSY if cpu_s >= lag_s else WAITING


def record(lag_s: float, cpu_s: float) -> None:
    EVENT_LOOP_LAG.labels(cause(lag_s, cpu_s)).observe(lag_s)


async def watch_loop_lag(
    period_s: float = PERIOD_S, observe: Callable[[float, float], None] = record
) -> None:
    """Observe (lag, CPU time of the loop's thread during that sleep) after every sleep."""
    while True:
        started = time.perf_counter()
        cpu_before = time.thread_time()
        await asyncio.sleep(period_s)
        lag = max(0.0, time.perf_counter() - started - period_s)
        observe(lag, time.thread_time() - cpu_before)
