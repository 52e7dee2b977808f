"""A Ready workload's Deployments changed by hand in the member clusters are put back: one
deleted is made again, one rescaled gets the placement's replicas back, and the workload is
Ready again, also when the leader is SIGKILLed right after the deletion (real etcd, kubesim,
a worker and two proxies)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest
from e2e.test_e2e_failover import all_ready, spec, until

from client import FederationClient
from fed.v1 import types_pb2
from tools.devstack.stack import Stack, StackConfig, StackInfo, down

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    config = StackConfig(
        dir=tmp_path_factory.mktemp("drift"),
        clusters=2,
        nodes=4,
        proxies=2,
        workers=1,
        attached=True,
        settings=["election.ttl_s=2", "election.safety_margin_s=0.5",
                  "observability.log_level=WARNING"],
        proxy_settings=["proxy.bind_period_s=0.3", "proxy.drift_check_period_s=1"],
        worker_settings=["worker.status_period_s=0.5"],
    )  # fmt: skip
    info = Stack(config).up()
    yield info
    down(Path(info.dir))


def apps_api(stack: StackInfo, cluster: str) -> kubernetes.client.AppsV1Api:
    info = next(c for c in stack.clusters if c["name"] == cluster)
    return kubernetes.client.AppsV1Api(
        kubernetes.config.new_client_from_config(config_file=info["kubeconfig"])
    )


def deployment(stack: StackInfo, cluster: str, name: str) -> tuple[str, int] | None:
    """(uid, replicas) of the Deployment, or None."""
    api = apps_api(stack, cluster)
    try:
        for item in api.list_namespaced_deployment("apps").items:
            if item.metadata.name == name:
                return item.metadata.uid, item.spec.replicas
        return None
    finally:
        api.api_client.close()


def parts(workload: types_pb2.Workload) -> dict[str, int]:
    return {p.cluster: p.replicas for p in workload.placement.clusters if p.replicas}


async def test_deployments_deleted_or_rescaled_by_hand_are_put_back(stack: StackInfo) -> None:
    async with FederationClient(stack.proxy_addresses) as fed:
        placed = await fed.place(spec("drifting", 2, min_clusters=2))
        wanted = parts(placed.workload)
        assert sorted(wanted) == ["c1", "c2"]
        await until(lambda: all_ready(fed, {"drifting"}), "the workload to be Ready")
        uid_before, _ = deployment(stack, "c1", "drifting") or ("", 0)

        api = apps_api(stack, "c1")
        api.delete_namespaced_deployment("drifting", "apps")
        api.api_client.close()
        api = apps_api(stack, "c2")
        api.patch_namespaced_deployment("drifting", "apps", {"spec": {"replicas": 7}})
        api.api_client.close()

        async def put_back() -> bool:
            remade = deployment(stack, "c1", "drifting")
            rescaled = deployment(stack, "c2", "drifting")
            return (
                remade is not None
                and remade[0] != uid_before
                and remade[1] == wanted["c1"]
                and rescaled is not None
                and rescaled[1] == wanted["c2"]
            )

        await until(put_back, "the Deployments to be put back", 30)
        await until(lambda: all_ready(fed, {"drifting"}), "the workload to be Ready again", 30)
        assert parts(await fed.get_workload("apps", "drifting")) == wanted


async def test_a_deletion_is_put_back_by_the_next_leader_with_the_same_reservations(
    stack: StackInfo,
) -> None:
    async with FederationClient(stack.proxy_addresses) as fed:
        placed = (await fed.place(spec("survivor", 2, min_clusters=2))).workload
        await until(lambda: all_ready(fed, {"survivor"}), "the workload to be Ready")
        deleted, _ = deployment(stack, "c1", "survivor") or ("", 0)
        api = apps_api(stack, "c1")
        api.delete_namespaced_deployment("survivor", "apps")
        api.api_client.close()
        topology = await fed.topology()
        leader = next(p for p in stack.proxies if p.address == topology.leader.member.address)
        os.kill(leader.pid, signal.SIGKILL)

        async def put_back() -> bool:
            remade = deployment(stack, "c1", "survivor")
            return remade is not None and remade[0] != deleted and remade[1] == 1

        await until(put_back, "the next leader to put the Deployment back", 60)
        await until(lambda: all_ready(fed, {"survivor"}), "the workload to be Ready again", 30)
        after = await fed.get_workload("apps", "survivor")
    assert parts(after) == parts(placed) == {"c1": 1, "c2": 1}
    reservations = {(p.cluster, p.reservation_id) for p in after.placement.clusters}
    assert reservations == {(p.cluster, p.reservation_id) for p in placed.placement.clusters}
