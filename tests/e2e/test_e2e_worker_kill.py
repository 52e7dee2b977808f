"""SIGKILL of a worker while the binder's Batch RPCs to it are in flight: every workload
still ends Ready, each Deployment made exactly once with its replicas, once the surviving
worker has taken the dead one's clusters over."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e.test_e2e_failover import all_ready, deployments, on, spec, until

from client import FederationClient
from tools.devstack.stack import Stack, StackConfig, StackInfo, down

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    config = StackConfig(
        dir=tmp_path_factory.mktemp("worker-kill"),
        clusters=3,
        nodes=6,
        proxies=1,
        workers=2,
        attached=True,
        settings=["election.ttl_s=2", "election.safety_margin_s=0.5",
                  "observability.log_level=WARNING", "retry.max_backoff_s=0.5"],
        proxy_settings=["proxy.bind_period_s=0.3"],
        worker_settings=["worker.status_period_s=0.5", "worker.lease_ttl_s=2"],
    )  # fmt: skip
    info = Stack(config).up()
    yield info
    down(Path(info.dir))


async def test_a_worker_killed_mid_binding_leaves_every_deployment_made_once(
    stack: StackInfo,
) -> None:
    first = {f"early-{index}" for index in range(30)}
    second = {f"late-{index}" for index in range(30)}
    async with FederationClient(stack.proxy_addresses) as fed:
        await asyncio.gather(*(fed.place(spec(name, 2)) for name in first))
        os.kill(stack.workers[0].pid, signal.SIGKILL)
        await asyncio.gather(*(fed.place(spec(name, 2)) for name in second))
        await until(lambda: all_ready(fed, first | second), "every workload Ready", 90)
        workloads = [w for w in await fed.list_workloads("apps") if w.spec.name in first | second]
    assert len(workloads) == 60
    for cluster in ("c1", "c2", "c3"):
        wanted = {w.spec.name: on(w, cluster) for w in workloads if on(w, cluster)}
        assert deployments(stack, cluster) == wanted, cluster
