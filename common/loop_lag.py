"""How late the event loop runs what is due: a serving process's stall signal.

A task sleeps `period_s` again and again; how much later than asked it wakes is the lag
that any callback due at that moment suffered too. Each lag is reported with its likely
cause, from the kernel's account of the loop's thread during that sleep
(/proc/thread-self/schedstat): "waiting" when the thread spent at least half the lag
runnable but without a CPU (the machine's cores were taken by other threads and
processes), else "busy" (a long callback, a garbage collection, a blocking call). Requests
stall by the same amount, so the lags over a few ms are what a latency tail is made of when
the work itself is short.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

from common.metrics import EVENT_LOOP_LAG

PERIOD_S = 0.01
"""A hundred wake-ups a second: under 0.1% of a core, and most stalls of a few ms seen."""

BUSY = "busy"
WAITING = "waiting"


def cause(lag_s: float, waiting_s: float) -> str:
    """Waiting when the thread was runnable without a CPU for at least half the lag."""
    return WAITING if waiting_s >= lag_s / 2 else BUSY


def record(lag_s: float, waiting_s: float) -> None:
    EVENT_LOOP_LAG.labels(cause(lag_s, waiting_s)).observe(lag_s)


def parse_schedstat(text: bytes) -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for one) from a thread's schedstat
    line (ns on CPU, ns waiting, timeslices)."""
    on_cpu, waiting = text.split()[:2]
    return int(on_cpu) / 1e9, int(waiting) / 1e9


async def watch_loop_lag(
    period_s: float = PERIOD_S, observe: Callable[[float, float], None] = record
) -> None:
    """Observe (lag, seconds the loop's thread waited for a CPU during that sleep) after
    every sleep; the waiting is 0 where the kernel keeps no schedstat."""
    try:
        fd: int | None = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
    except OSError:
        fd = None

    def waited() -> float:
        return parse_schedstat(os.pread(fd, 128, 0))[1] if fd is not None else 0.0

    try:
        while True:
            started = time.perf_counter()
            waiting_before = waited()
            await asyncio.sleep(period_s)
            lag = max(0.0, time.perf_counter() - started - period_s)
            observe(lag, waited() - waiting_before)
    finally:
        if fd is not None:
            os.close(fd)
