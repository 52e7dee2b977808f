"""Apply creates first for a workload the cluster runs no pod of, and reads first otherwise."""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest

from common.settings import RetrySettings
from worker.applier import Applier, Deadline, NotManaged
from worker.deployment_cache import DeploymentCache
from worker.kube_adapter import KubeAdapter, KubeAlreadyExists, parse_deployment
from worker.manifest import Desired, WorkloadRef, build
from worker.model import Deployment, EventType, Res


class FakeAdapter:
    """Deployments in a dict; every call is recorded by its verb."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self._version = 0

    def _stored(self, manifest: dict[str, Any]) -> Deployment:
        self._version += 1
        stored = copy.deepcopy(manifest)
        stored["metadata"]["resourceVersion"] = str(self._version)
        self.objects[stored["metadata"]["name"]] = stored
        return parse_deployment(stored)

    async def get_deployment(self, namespace: str, name: str, timeout_s: Any) -> Deployment | None:
        self.calls.append("get")
        found = self.objects.get(name)
        return parse_deployment(copy.deepcopy(found)) if found is not None else None

    async def create_deployment(self, namespace: str, manifest: Any, timeout_s: Any) -> Deployment:
        self.calls.append("create")
        if manifest["metadata"]["name"] in self.objects:
            raise KubeAlreadyExists("already exists")
        return self._stored(manifest)

    async def replace_deployment(
        self, namespace: str, name: str, manifest: Any, timeout_s: Any
    ) -> Deployment:
        self.calls.append("replace")
        return self._stored(manifest)


def desired(replicas: int, name: str = "web") -> Desired:
    return Desired(WorkloadRef("team-a", name, "r-1", 1), replicas, Res(cpu=100), "", {})


def applier(adapter: FakeAdapter, running: set[str]) -> Applier:
    return Applier("c1", cast(KubeAdapter, adapter), RetrySettings(), running.__contains__)


async def test_a_new_workload_takes_one_call() -> None:
    adapter = FakeAdapter()
    outcome = await applier(adapter, set()).apply(desired(3), Deadline())
    assert (outcome.created, outcome.replicas, adapter.calls) == (True, 3, ["create"])


async def test_a_running_workload_is_read_then_scaled() -> None:
    adapter = FakeAdapter()
    adapter._stored(build(desired(3)))
    outcome = await applier(adapter, {"team-a.web"}).apply(desired(5), Deadline())
    assert (outcome.created, outcome.replicas, adapter.calls) == (False, 5, ["get", "replace"])


async def test_a_deployment_without_pods_yet_is_updated_after_the_refused_create() -> None:
    adapter = FakeAdapter()
    adapter._stored(build(desired(3)))
    outcome = await applier(adapter, set()).apply(desired(4), Deadline())
    assert (outcome.created, outcome.replicas) == (False, 4)
    assert adapter.calls == ["create", "get", "replace"]


async def test_a_foreign_deployment_of_that_name_is_left_alone() -> None:
    adapter = FakeAdapter()
    foreign = build(desired(1))
    foreign["metadata"]["labels"] = {"app": "theirs"}
    adapter._stored(foreign)
    with pytest.raises(NotManaged):
        await applier(adapter, set()).apply(desired(2), Deadline())
    assert adapter.calls == ["create", "get"]


async def test_a_status_check_reads_the_informer_cache_and_the_api_only_on_a_miss() -> None:
    adapter = FakeAdapter()
    stored = adapter._stored(build(desired(3)))
    cache = DeploymentCache()
    checker = Applier(
        "c1", cast(KubeAdapter, adapter), RetrySettings(), set().__contains__, known=cache.get
    )
    ref = desired(3).ref
    assert await checker.status(ref, Deadline()) == stored
    assert adapter.calls == ["get"]  # not in the cache yet
    cache.replace([stored])
    assert await checker.status(ref, Deadline()) == stored
    assert adapter.calls == ["get"]
    cache.apply(EventType.DELETED, stored)
    del adapter.objects["web"]
    assert await checker.status(ref, Deadline()) is None
    assert adapter.calls == ["get", "get"]
