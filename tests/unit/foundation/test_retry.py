"""retry.call: a first try without the retry machinery, then the policy's retries."""

from __future__ import annotations

import pytest

from common import retry
from common.settings import RetrySettings

POLICY = RetrySettings(attempts=3, initial_backoff_s=0.001, max_backoff_s=0.002)


class Flaky:
    """Fails with `error` the first `failures` times, then answers with the attempt number."""

    def __init__(self, failures: int, error: type[Exception] = ConnectionError) -> None:
        self.failures = failures
        self.error = error
        self.attempts = 0

    async def __call__(self) -> int:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise self.error(f"attempt {self.attempts}")
        return self.attempts


async def test_a_call_that_succeeds_is_tried_once() -> None:
    flaky = Flaky(0)
    assert await retry.call(POLICY, [ConnectionError], flaky) == 1


async def test_transient_failures_are_retried_up_to_the_policys_attempts() -> None:
    flaky = Flaky(2)
    assert await retry.call(POLICY, [ConnectionError], flaky) == 3


async def test_the_last_transient_error_is_raised_when_attempts_run_out() -> None:
    flaky = Flaky(5)
    with pytest.raises(ConnectionError, match="attempt 3"):
        await retry.call(POLICY, [ConnectionError], flaky)
    assert flaky.attempts == 3


async def test_other_errors_are_not_retried() -> None:
    flaky = Flaky(1, ValueError)
    with pytest.raises(ValueError):
        await retry.call(POLICY, [ConnectionError], flaky)
    assert flaky.attempts == 1


async def test_a_single_attempt_policy_raises_the_first_error() -> None:
    flaky = Flaky(1)
    with pytest.raises(ConnectionError, match="attempt 1"):
        await retry.call(RetrySettings(attempts=1), [ConnectionError], flaky)
    assert flaky.attempts == 1
