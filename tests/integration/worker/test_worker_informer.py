"""The informer survives a forced 410 Gone, dropped watches and a cluster down/up, without
losing or duplicating objects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from integration.worker.conftest import fleet_config
from integration.worker.worker_support import WorkerThread, wait_for, worker_settings, write_records

from common.etcd_launcher import EmbeddedEtcd
from common.keys import Keys
from tools.kubesim import SimThread
from tools.kubesim.cluster import ClusterSim
from tools.kubesim.registry import DeleteOptions
from tools.kubesim.resources import PODS
from worker.cluster import ClusterRuntime

pytestmark = pytest.mark.integration
HISTORY = 40


@pytest.fixture
def small_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimThread]:
    config = fleet_config(history_size=HISTORY)
    with SimThread(config, tmp_path_factory.mktemp("kubesim")) as sim:
        yield sim


def create_pods(cluster: ClusterSim, prefix: str, count: int) -> None:
    for i in range(count):
        body: dict[str, Any] = {
            "metadata": {"name": f"{prefix}-{i}"},
            "spec": {
                "containers": [
                    {"name": "c", "image": "x", "resources": {"requests": {"cpu": "100m"}}}
                ]
            },
        }
        cluster.registry.create(PODS, "default", body)


def delete_pods(cluster: ClusterSim, prefix: str, count: int) -> None:
    for i in range(count):
        cluster.registry.delete(PODS, "default", f"{prefix}-{i}", DeleteOptions(grace_seconds=0))


def kubesim_view(cluster: ClusterSim) -> tuple[set[str], dict[str, int]]:
    pods = set(cluster.store.table(PODS.plural).entries)
    used = {name: state.used_cpu for name, state in cluster.scheduler.nodes.items()}
    return pods, used


def cache_view(runtime: ClusterRuntime) -> tuple[set[str], dict[str, int]]:
    cache = runtime.cache
    return set(cache.pods), {name: s.requested.cpu for name, s in cache.nodes.items()}


def consistent(worker: WorkerThread, fleet: SimThread) -> bool:
    runtime = worker.synced("c1")
    if runtime is None:
        return False
    return bool(cache_view(runtime) == fleet.run(kubesim_view, fleet.clusters["c1"]))


def test_informer_relists_on_410_and_rides_out_outages(
    etcd: EmbeddedEtcd, keys: Keys, small_history: SimThread
) -> None:
    fleet = small_history
    cluster = fleet.clusters["c1"]
    write_records(etcd.endpoint, keys, fleet, {"w1": (["c1"], [])})
    with WorkerThread(worker_settings(etcd.endpoint, keys, "w1")) as worker:
        fleet.run(create_pods, cluster, "a", 10)
        wait_for(lambda: consistent(worker, fleet), what="cache equals kubesim")
        runtime = worker.runtime("c1")
        assert runtime is not None
        pods_informer = runtime.informers[1]
        relists = pods_informer.state.relists

        fleet.fault("c1", "drop-watches")
        fleet.run(create_pods, cluster, "b", 5)
        wait_for(lambda: consistent(worker, fleet), what="cache after dropped watches")
        assert pods_informer.state.relists == relists

        fleet.fault("c1", "down")
        fleet.run(create_pods, cluster, "c", HISTORY)
        fleet.run(delete_pods, cluster, "a", 10)
        fleet.fault("c1", "up")
        wait_for(lambda: consistent(worker, fleet), what="cache after the outage")
        assert pods_informer.state.relists > relists, "the resumed watch must have hit 410"
        assert len(runtime.cache.pods) == 5 + HISTORY
