"""Kubernetes API call statistics over a sliding window: latency p99 and error rate."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ApiFigures:
    latency_p99_ms: float
    error_rate: float
    calls: int
    last_error: str
    reachable: bool


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, int(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


class ApiStats:
    """Thread-safe: the adapter records from its worker threads, the status reads."""

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._samples: deque[tuple[float, float, bool]] = deque()
        self._lock = threading.Lock()
        self._last_error = ""
        self._reachable = False

    def record(self, seconds: float, ok: bool, error: str = "", reached: bool = True) -> None:
        """One call: its latency, whether it succeeded, and whether the server answered."""
        now = time.monotonic()
        with self._lock:
            self._samples.append((now, seconds, ok))
            self._trim(now)
            self._reachable = reached
            if not ok:
                self._last_error = error[:500]
            elif reached:
                self._last_error = ""

    @property
    def reachable(self) -> bool:
        """Whether the last call reached the API server."""
        return self._reachable

    def figures(self) -> ApiFigures:
        now = time.monotonic()
        with self._lock:
            self._trim(now)
            samples = list(self._samples)
            last_error, reachable = self._last_error, self._reachable
        errors = sum(1 for _, _, ok in samples if not ok)
        latencies = [s * 1000 for _, s, _ in samples]
        return ApiFigures(
            latency_p99_ms=percentile(latencies, 0.99),
            error_rate=errors / len(samples) if samples else 0.0,
            calls=len(samples),
            last_error=last_error,
            reachable=reachable,
        )

    def _trim(self, now: float) -> None:
        horizon = now - self._window_s
        while self._samples and self._samples[0][0] < horizon:
            self._samples.popleft()
