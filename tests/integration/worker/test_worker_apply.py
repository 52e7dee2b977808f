"""Apply / Remove against kubesim: idempotence, epochs, errors, workload status."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from integration.worker.worker_support import WorkerThread, wait_for, worker_settings, write_records
from prometheus_client import REGISTRY

from common.etcd_launcher import EmbeddedEtcd
from common.keys import Keys
from common.status_codes import number
from fed.v1 import types_pb2, worker_pb2
from tools.kubesim import SimThread

pytestmark = pytest.mark.integration
SHAPE = types_pb2.Resources(cpu_millis=500, memory_bytes=256 * 1024**2)


@pytest.fixture
def worker(etcd: EmbeddedEtcd, keys: Keys, fleet: SimThread) -> Iterator[WorkerThread]:
    write_records(etcd.endpoint, keys, fleet, {"w1": (["c1"], [])})
    with WorkerThread(worker_settings(etcd.endpoint, keys, "w1")) as running:
        wait_for(lambda: running.synced("c1"), what="cache synced")
        yield running


def apply_request(replicas: int = 3, epoch: int = 5, **fields: object) -> worker_pb2.ApplyRequest:
    values: dict[str, object] = {
        "cluster": "c1",
        "namespace": "team-a",
        "name": "web",
        "reservation_id": "r-1",
        "epoch": epoch,
        "replicas": replicas,
        "per_replica": SHAPE,
        "labels": {"app": "web"},
    }
    return worker_pb2.ApplyRequest(**{**values, **fields})  # type: ignore[arg-type]


def deployments(fleet: SimThread, namespace: str) -> list[dict[str, object]]:
    def read() -> list[dict[str, object]]:
        table = fleet.clusters["c1"].store.table("deployments")
        return [e.obj for k, e in table.entries.items() if k.startswith(f"{namespace}/")]

    result: list[dict[str, object]] = fleet.run(read)
    return result


def test_apply_is_idempotent_under_retries_and_concurrency(
    worker: WorkerThread, fleet: SimThread
) -> None:
    first = worker.stub.Apply(apply_request(), timeout=10)
    assert (first.created, first.deployment, first.replicas) == (True, "web", 3)
    again = worker.stub.Apply(apply_request(), timeout=10)
    assert (again.created, again.replicas) == (False, 3)
    (unchanged,) = deployments(fleet, "team-a")
    assert unchanged["metadata"]["generation"] == 1  # type: ignore[index]
    with ThreadPoolExecutor(6) as pool:
        replies = list(
            pool.map(lambda _: worker.stub.Apply(apply_request(4), timeout=10), range(6))
        )
    assert {r.replicas for r in replies} == {4}
    objects = deployments(fleet, "team-a")
    assert len(objects) == 1
    spec = objects[0]["spec"]
    assert isinstance(spec, dict) and spec["replicas"] == 4
    labels = spec["template"]["metadata"]["labels"]
    assert labels["fed.io/workload"] == "team-a.web"
    assert labels["fed.io/reservation"] == "r-1"
    status = wait_for(
        lambda: (
            s
            if (
                s := worker.stub.GetWorkloadStatus(
                    worker_pb2.GetWorkloadStatusRequest(
                        cluster="c1", namespace="team-a", name="web"
                    ),
                    timeout=5,
                )
            ).ready
            == 4
            and s.pods == 4
            else None
        ),
        what="4 ready pods",
    )
    assert (status.exists, status.desired) == (True, 4)


def test_stale_epoch_is_rejected_and_remove_is_idempotent(worker: WorkerThread) -> None:
    worker.stub.Apply(apply_request(epoch=7), timeout=10)
    with pytest.raises(grpc.RpcError) as err:
        worker.stub.Apply(apply_request(epoch=6), timeout=10)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "epoch 6" in (err.value.details() or "")
    remove = worker_pb2.RemoveRequest(cluster="c1", namespace="team-a", name="web", epoch=7)
    assert worker.stub.Remove(remove, timeout=10).deleted
    assert not worker.stub.Remove(remove, timeout=10).deleted


def status_reads() -> dict[str, float]:
    """The worker's status checks of c1 so far, by source (it runs in this process)."""
    return {
        source: REGISTRY.get_sample_value(
            "fed_worker_status_reads_total", {"cluster": "c1", "source": source}
        )
        or 0.0
        for source in ("cache", "api")
    }


def test_status_checks_read_the_informer_cache_and_the_api_only_on_a_miss(
    worker: WorkerThread,
) -> None:
    ask = worker_pb2.GetWorkloadStatusRequest(cluster="c1", namespace="team-a", name="web")
    worker.stub.Apply(apply_request(3), timeout=10)
    wait_for(lambda: worker.stub.GetWorkloadStatus(ask, timeout=5).ready == 3, what="3 ready")
    before = status_reads()
    for _ in range(5):
        assert worker.stub.GetWorkloadStatus(ask, timeout=5).desired == 3
    after = status_reads()
    assert (after["cache"] - before["cache"], after["api"] - before["api"]) == (5, 0)
    remove = worker_pb2.RemoveRequest(cluster="c1", namespace="team-a", name="web", epoch=5)
    assert worker.stub.Remove(remove, timeout=10).deleted
    wait_for(lambda: not worker.stub.GetWorkloadStatus(ask, timeout=5).exists, what="gone")
    assert status_reads()["api"] > after["api"]


def test_the_cache_answers_again_once_a_dropped_watch_resumes(
    worker: WorkerThread, fleet: SimThread
) -> None:
    ask = worker_pb2.GetWorkloadStatusRequest(cluster="c1", namespace="team-a", name="web")
    worker.stub.Apply(apply_request(3), timeout=10)
    wait_for(lambda: worker.stub.GetWorkloadStatus(ask, timeout=5).ready == 3, what="3 ready")
    fleet.fault("c1", "drop-watches")

    def from_cache() -> bool:
        before = status_reads()["cache"]
        worker.stub.GetWorkloadStatus(ask, timeout=5)
        return status_reads()["cache"] > before

    wait_for(from_cache, what="a status read from the cache after the watches dropped")


def test_template_is_used_and_bad_requests_name_the_field(worker: WorkerThread) -> None:
    template = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "api",
                            "image": "nginx:1.27",
                            "resources": {"requests": {"cpu": "250m"}},
                        }
                    ]
                }
            }
        },
    }
    reply = worker.stub.Apply(apply_request(template_json=json.dumps(template)), timeout=10)
    assert reply.created
    cases = [
        (apply_request(namespace="Bad_NS"), "namespace"),
        (apply_request(replicas=-1), "replicas"),
        (apply_request(template_json="{"), "template_json"),
        (apply_request(labels={"fed.io/workload": "x"}), "labels[fed.io/workload]"),
        (apply_request(cluster=""), "cluster"),
    ]
    for request, field in cases:
        with pytest.raises(grpc.RpcError) as err:
            worker.stub.Apply(request, timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert (err.value.details() or "").startswith(field)


def test_unreachable_cluster_is_unavailable(worker: WorkerThread, fleet: SimThread) -> None:
    fleet.fault("c1", "down")
    with pytest.raises(grpc.RpcError) as err:
        worker.stub.Apply(apply_request(), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    fleet.fault("c1", "up")
    assert worker.stub.Apply(apply_request(), timeout=10).created


def test_a_cluster_gone_down_is_not_reported_running_what_the_cache_holds(
    worker: WorkerThread, fleet: SimThread
) -> None:
    """The failover marks parts of a down cluster Degraded; a status answered from the
    informer cache would report them Ready again."""
    ask = worker_pb2.GetWorkloadStatusRequest(cluster="c1", namespace="team-a", name="web")
    worker.stub.Apply(apply_request(3), timeout=10)
    wait_for(lambda: worker.stub.GetWorkloadStatus(ask, timeout=5).ready == 3, what="3 ready")
    fleet.fault("c1", "down")

    def refused() -> grpc.StatusCode | None:
        """The status code once the worker has noticed (its watches end with the server)."""
        try:
            worker.stub.GetWorkloadStatus(ask, timeout=5)
        except grpc.RpcError as error:
            return error.code()  # type: ignore[no-any-return]
        return None

    assert wait_for(refused, timeout=5, what="an error") == grpc.StatusCode.UNAVAILABLE


def test_a_cluster_that_refuses_is_a_failed_precondition(
    worker: WorkerThread, fleet: SimThread
) -> None:
    """403 Forbidden (a quota, an admission rule) is this cluster refusing, not a bad request:
    the proxy re-places such a part elsewhere, and keeps INVALID_ARGUMENT for bad templates."""
    fleet.fault("c1", "forbid-creates")
    with pytest.raises(grpc.RpcError) as err:
        worker.stub.Apply(apply_request(), timeout=10)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "forbid-creates" in (err.value.details() or "")
    fleet.fault("c1", "clear")
    assert worker.stub.Apply(apply_request(), timeout=10).created


def test_a_batch_answers_each_call_as_its_unary_call_would(worker: WorkerThread) -> None:
    """One bad or refused item does not fail the others; each carries its own code. Items of
    one batch run concurrently: a status asked in the same batch as its apply may miss it."""
    web = {"cluster": "c1", "namespace": "team-a", "name": "web"}
    applied, invalid, unassigned, empty = batch(
        worker,
        worker_pb2.BatchItem(apply=apply_request()),
        worker_pb2.BatchItem(apply=apply_request(name="api", replicas=-1)),
        worker_pb2.BatchItem(apply=apply_request(cluster="c9", name="db")),
        worker_pb2.BatchItem(),
    )
    assert (applied.code, applied.apply.created, applied.apply.replicas) == (0, True, 3)
    assert invalid.code == number(grpc.StatusCode.INVALID_ARGUMENT)
    assert invalid.message.startswith("replicas") and not invalid.HasField("apply")
    assert unassigned.code == number(grpc.StatusCode.UNAVAILABLE)
    assert "not assigned" in unassigned.message
    assert empty.code == number(grpc.StatusCode.INVALID_ARGUMENT)
    assert empty.message.startswith("items[3]")
    (status,) = batch(
        worker, worker_pb2.BatchItem(status=worker_pb2.GetWorkloadStatusRequest(**web))
    )
    assert (status.code, status.status.exists, status.status.desired) == (0, True, 3)
    (removed,) = batch(
        worker, worker_pb2.BatchItem(remove=worker_pb2.RemoveRequest(**web, epoch=5))
    )
    assert (removed.code, removed.remove.deleted) == (0, True)
    too_many = [worker_pb2.BatchItem(status=worker_pb2.GetWorkloadStatusRequest(**web))] * 1001
    with pytest.raises(grpc.RpcError) as err:
        batch(worker, *too_many)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.value.details() or "").startswith("items")


def batch(worker: WorkerThread, *items: worker_pb2.BatchItem) -> list[worker_pb2.BatchResult]:
    request = worker_pb2.BatchRequest(items=items)
    return list(worker.stub.Batch(request, timeout=10).results)
