"""The whole stack on one machine, attached to the test session (dies with it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.devstack.stack import Stack, StackConfig, StackInfo, down

COMMON = ["election.ttl_s=2", "election.safety_margin_s=0.5", "observability.log_level=WARNING"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    directory = tmp_path_factory.mktemp("stack")
    config = StackConfig(
        dir=directory,
        clusters=3,
        nodes=8,
        proxies=3,
        workers=2,
        attached=True,
        settings=COMMON,
        proxy_settings=[
            "proxy.bind_period_s=0.3",
            "failover.retry_degraded_s=0.5",
            "failover.shortfall_settle_s=2",  # a drain that cannot move everything ends soon
            "proxy.drift_check_period_s=0",  # worker calls are counted (test_e2e_drift checks)
        ],
        worker_settings=["worker.status_period_s=0.5"],
    )
    info = Stack(config).up()
    yield info
    down(Path(info.dir))
