"""The shared retry policies (tenacity). Every retry loop in the project is built here."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence

from tenacity import (
    AsyncRetrying,
    before_sleep_log,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    stop_any,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from common.settings import RetrySettings

_log = logging.getLogger(__name__)


def transient(
    policy: RetrySettings,
    retry_on: Sequence[type[BaseException]],
    *,
    deadline_s: float | None = None,
    log_retries: bool = True,
) -> AsyncRetrying:
    """Bounded retries of transient failures with jittered exponential backoff.

    Reraises the last error when attempts (or the deadline) run out, so the caller sees
    the real cause rather than a RetryError.
    """
    stop: stop_base = stop_after_attempt(policy.attempts)
    if deadline_s is not None:
        stop = stop_any(stop, stop_after_delay(deadline_s))
    return AsyncRetrying(
        retry=retry_if_exception_type(tuple(retry_on)),
        stop=stop,
        wait=wait_exponential_jitter(multiplier=policy.initial_backoff_s, max=policy.max_backoff_s),
        before_sleep=before_sleep_log(_log, logging.WARNING if log_retries else logging.DEBUG),
        reraise=True,
    )


class Backoff:
    """Jittered exponential delays for loops that must recover without end (watches)."""

    def __init__(self, policy: RetrySettings) -> None:
        self._policy = policy
        self._failures = 0

    def reset(self) -> None:
        self._failures = 0

    async def wait(self) -> None:
        delay = min(self._policy.max_backoff_s, self._policy.initial_backoff_s * 2**self._failures)
        self._failures += 1
        await asyncio.sleep(delay * random.uniform(0.5, 1.0))
