"""A cluster that refuses an apply: its reservation is released and the replicas re-placed.

Real etcd, kubesim, a worker and a proxy (one small stack for the module). A cluster refuses
with kubesim's `forbid-creates` fault (403 Forbidden, as an exceeded quota or an admission
rule answers) or because a Deployment of that name exists that the federation does not own.
The tests follow the workload's events (WatchWorkloads) until it settles.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from client import FederationClient
from common.etcd_store import EtcdStore
from common.keys import Keys
from fed.v1 import federation_pb2, types_pb2
from tools.devstack.stack import Stack, StackConfig, StackInfo, down
from tools.kubesim.control import set_fault

pytestmark = pytest.mark.integration
Phase = types_pb2.WorkloadPhase
TEMPLATE = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}},
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    config = StackConfig(
        dir=tmp_path_factory.mktemp("refused"),
        clusters=3,
        nodes=4,
        node_cpu="8",
        node_memory="32Gi",
        proxies=1,
        workers=1,
        attached=True,
        settings=["election.ttl_s=2", "election.safety_margin_s=0.5",
                  "observability.log_level=WARNING"],
        proxy_settings=["proxy.bind_period_s=0.3"],
        worker_settings=["worker.status_period_s=0.5"],
    )  # fmt: skip
    info = Stack(config).up()
    yield info
    down(Path(info.dir))


def fault(stack: StackInfo, cluster: str, name: str) -> None:
    set_fault(Path(stack.dir) / "kubesim", cluster, name)


def apps_api(stack: StackInfo, cluster: str) -> kubernetes.client.AppsV1Api:
    (entry,) = [c for c in stack.clusters if c["name"] == cluster]
    return kubernetes.client.AppsV1Api(
        kubernetes.config.new_client_from_config(config_file=entry["kubeconfig"])
    )


def deployments(stack: StackInfo, namespace: str, name: str) -> dict[str, int]:
    """Replicas of the Deployment called `name` in every emulated cluster that has one."""
    found: dict[str, int] = {}
    for cluster in stack.clusters:
        api = apps_api(stack, cluster["name"])
        try:
            found[cluster["name"]] = api.read_namespaced_deployment(name, namespace).spec.replicas
        except ApiException as error:
            assert error.status == 404
        finally:
            api.api_client.close()
    return found


def spec(
    namespace: str, name: str, replicas: int, prefer: str, template: object = TEMPLATE
) -> types_pb2.WorkloadSpec:
    return types_pb2.WorkloadSpec(
        namespace=namespace,
        name=name,
        replicas=replicas,
        resources=types_pb2.Resources(cpu_millis=500, memory_bytes=256 << 20),
        template_json=json.dumps(template),
        policy=types_pb2.PlacementPolicy(preferred_regions=[prefer]),
    )


async def settled(
    fed: FederationClient,
    namespace: str,
    name: str,
    done: Callable[[types_pb2.Workload], bool],
    timeout_s: float = 60,
) -> types_pb2.Workload:
    """Follow the workload's events (its state first) until `done` holds for it."""
    last = types_pb2.Workload()
    try:
        async with asyncio.timeout(timeout_s):
            async for event in fed.watch_workloads(namespace):
                if event.type == federation_pb2.EVENT_TYPE_DELETED:
                    continue
                if event.workload.spec.name == name:
                    last = event.workload
                    if done(last):
                        return last
    except TimeoutError:
        pass
    raise AssertionError(f"{namespace}/{name} did not settle; last seen:\n{last}")


def ready_off(cluster: str) -> Callable[[types_pb2.Workload], bool]:
    """Ready with nothing left on `cluster` (its emptied part removed, too)."""

    def check(workload: types_pb2.Workload) -> bool:
        return workload.phase == Phase.WORKLOAD_PHASE_READY and all(
            p.cluster != cluster for p in workload.placement.clusters
        )

    return check


async def reservations(stack: StackInfo, workload: str) -> list[types_pb2.Reservation]:
    keys = Keys("/fed")
    async with EtcdStore([stack.etcd_endpoint]) as store:
        found = [
            types_pb2.Reservation.FromString(kv.value)
            for kv in (await store.range(keys.reservations_prefix())).kvs
        ]
    return [r for r in found if r.workload == workload]


async def assert_not_over_committed(fed: FederationClient) -> None:
    for info in await fed.list_clusters():
        held = info.reserved.cpu_millis + info.status.foreign_requested.cpu_millis
        assert held <= info.status.allocatable.cpu_millis, f"{info.spec.name} over-committed"


async def test_a_cluster_that_forbids_creates_gets_its_replicas_re_placed(
    stack: StackInfo,
) -> None:
    fault(stack, "c2", "forbid-creates")
    try:
        async with FederationClient(stack.proxy_addresses) as fed:
            placed = await fed.place(spec("refused", "web", 4, prefer="r2"))
            first = {p.cluster: p.replicas for p in placed.workload.placement.clusters}
            assert first.get("c2"), f"c2 (region r2) was preferred: {first}"

            workload = await settled(fed, "refused", "web", ready_off("c2"))
            assert sum(p.replicas for p in workload.placement.clusters) == 4
            assert all(p.ready_replicas == p.replicas for p in workload.placement.clusters)
            assert "apply refused by c2" in workload.message
            assert "forbid-creates" in workload.message
            assert all(not p.replaces for p in workload.placement.clusters), "cleared once applied"

            held = await reservations(stack, "refused/web")
            assert {r.cluster for r in held}.isdisjoint({"c2"}), "c2's reservation is released"
            assert sum(r.replicas for r in held) == 4
            assert {r.id for r in held} == {p.reservation_id for p in workload.placement.clusters}
            await assert_not_over_committed(fed)
            running = await asyncio.to_thread(deployments, stack, "refused", "web")
            assert "c2" not in running
            assert running == {p.cluster: p.replicas for p in workload.placement.clusters}
    finally:
        fault(stack, "c2", "clear")


async def test_a_name_taken_by_a_foreign_deployment_is_re_placed_and_left_alone(
    stack: StackInfo,
) -> None:
    foreign = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "labels": {"team": "someone-else"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "api", "image": "nginx:1.27"}]},
            },
        },
    }

    def create_foreign() -> None:
        api = apps_api(stack, "c3")
        core = kubernetes.client.CoreV1Api(api.api_client)
        core.create_namespace({"metadata": {"name": "clash"}})
        api.create_namespaced_deployment("clash", foreign)
        api.api_client.close()

    await asyncio.to_thread(create_foreign)
    async with FederationClient(stack.proxy_addresses) as fed:
        placed = await fed.place(spec("clash", "api", 2, prefer="r3"))
        assert any(p.cluster == "c3" for p in placed.workload.placement.clusters)
        workload = await settled(fed, "clash", "api", ready_off("c3"))
        assert sum(p.replicas for p in workload.placement.clusters) == 2
        assert "apply refused by c3" in workload.message
        assert "not managed by the federation" in workload.message
        held = await reservations(stack, "clash/api")
        assert sum(r.replicas for r in held) == 2 and "c3" not in {r.cluster for r in held}
    running = await asyncio.to_thread(deployments, stack, "clash", "api")
    assert running["c3"] == 1, "the foreign Deployment is untouched"
    assert sum(running.values()) == 3


async def test_a_re_placement_refused_again_fails_instead_of_moving_on(
    stack: StackInfo,
) -> None:
    """c2 and c3 both refuse and the selector allows only them: one re-placement, then Failed."""
    for cluster in ("c2", "c3"):
        fault(stack, cluster, "forbid-creates")
    try:
        async with FederationClient(stack.proxy_addresses) as fed:
            wanted = spec("twice", "batch", 2, prefer="r2")
            wanted.policy.regions.extend(["r2", "r3"])
            await fed.place(wanted)

            def failed(workload: types_pb2.Workload) -> bool:
                return workload.phase == Phase.WORKLOAD_PHASE_FAILED and all(
                    p.replicas for p in workload.placement.clusters
                )

            workload = await settled(fed, "twice", "batch", failed)
            (part,) = workload.placement.clusters
            assert part.replicas == 2 and part.phase == Phase.WORKLOAD_PHASE_FAILED
            assert f"apply refused by {part.cluster}" in part.message
            assert "already" in part.message, part.message
            (held,) = await reservations(stack, "twice/batch")
            assert (held.cluster, held.replicas) == (part.cluster, 2), "a Failed part keeps it"
            await assert_not_over_committed(fed)
    finally:
        for cluster in ("c2", "c3"):
            fault(stack, cluster, "clear")


async def test_a_template_no_cluster_takes_stays_failed_where_it_was(stack: StackInfo) -> None:
    """INVALID_ARGUMENT is the request's fault, not the cluster's: nothing is re-placed."""
    async with FederationClient(stack.proxy_addresses) as fed:
        broken = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {}}
        placed = await fed.place(spec("broken", "job", 1, prefer="r1", template=broken))
        ((cluster, reservation_id),) = [
            (p.cluster, p.reservation_id) for p in placed.workload.placement.clusters
        ]
        workload = await settled(
            fed, "broken", "job", lambda w: w.phase == Phase.WORKLOAD_PHASE_FAILED
        )
        (part,) = workload.placement.clusters
        assert (part.cluster, part.reservation_id) == (cluster, reservation_id)
        assert "containers" in part.message
        assert not workload.message, "no re-placement was tried"


async def test_a_move_whose_target_refuses_is_given_up_and_the_source_keeps_its_replicas(
    stack: StackInfo,
) -> None:
    """Drain c1 with c3 cordoned and c2 refusing: the move fails, the workload is no longer in
    flight (it scales), and its replicas never left c1."""
    OpPhase = types_pb2.OperationPhase
    async with FederationClient(stack.proxy_addresses) as fed:
        placed = await fed.place(spec("moving", "api", 1, prefer="r1"))
        assert {p.cluster for p in placed.workload.placement.clusters} == {"c1"}
        await settled(fed, "moving", "api", lambda w: w.phase == Phase.WORKLOAD_PHASE_READY)
        fault(stack, "c2", "forbid-creates")
        await fed.cordon("c3", reason="kept out of this test")
        try:
            drain = await fed.remove_cluster("c1", drain=True, request_id="drain-c1-refused")

            operation = types_pb2.Operation()
            async with asyncio.timeout(60):
                async for operation in fed.watch_operation(drain.operation_id):
                    if operation.phase != OpPhase.OPERATION_PHASE_RUNNING:
                        break
            assert operation.phase == OpPhase.OPERATION_PHASE_PARTIAL
            (step,) = [s for s in operation.steps if s.workload == "moving/api"]
            assert step.message.startswith("apply failed on c2: apply refused by c2"), step
            workload = await settled(
                fed,
                "moving",
                "api",
                lambda w: (
                    {p.cluster for p in w.placement.clusters} == {"c1"}
                    and w.phase == Phase.WORKLOAD_PHASE_READY
                ),
            )
            assert not any(p.operation_id or p.leaving for p in workload.placement.clusters)
            assert "move" in workload.message and "given up" in workload.message
            held = await reservations(stack, "moving/api")
            assert [(r.cluster, r.replicas) for r in held] == [("c1", 1)]
            await fed.uncordon("c1")
            scaled = await fed.scale("moving", "api", 2)
            assert sum(p.replicas for p in scaled.workload.placement.clusters) == 2
        finally:
            fault(stack, "c2", "clear")
            await fed.uncordon("c3")
