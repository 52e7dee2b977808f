"""The shared retry policies (tenacity). Every retry loop in the project is built here."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

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
R = TypeVar("R")


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


async def call(
    policy: RetrySettings,
    retry_on: Sequence[type[BaseException]],
    attempt: Callable[[], Awaitable[R]],
) -> R:
    """`attempt()` with the `transient` policy's retries. The first try runs bare: building
    and stepping tenacity's loop was a quarter of the leader's fenced commit CPU in py-spy,
    and the leader commits every batch through here; only a call that failed pays for it
    (after the policy's first backoff, with one attempt fewer left)."""
    errors = tuple(retry_on)
    try:
        return await attempt()
    except errors as exc:
        if policy.attempts <= 1:
            raise
        _log.warning("retrying after a transient failure", extra={"err": str(exc)[:200]})
    await Backoff(policy).wait()
    rest = dataclasses.replace(policy, attempts=policy.attempts - 1)
    async for retry in transient(rest, errors):
        with retry:
            return await attempt()
    raise AssertionError("unreachable: tenacity reraises the last error")


ChannelOption = tuple[str, int]


def channel_options(policy: RetrySettings) -> list[ChannelOption]:
    """gRPC channel options under which a channel reconnects on `policy`'s backoff.

    gRPC's own waits 1 s before reconnecting, then 1.6 times longer after each failed
    attempt, up to 120 s: once etcd had been down for 25 s, a call got through 15.3 s after
    it was back. Every long-lived channel the project opens (to etcd, the leader, workers,
    the proxies) reconnects like the calls retry instead.
    """
    return [
        ("grpc.initial_reconnect_backoff_ms", round(policy.initial_backoff_s * 1000)),
        ("grpc.max_reconnect_backoff_ms", round(policy.max_backoff_s * 1000)),
    ]


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
