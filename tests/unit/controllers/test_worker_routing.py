"""Which live workers serve a cluster, kept in step with the worker and assignment records."""

from __future__ import annotations

from unit.controllers.view_fakes import KEYS, UpdatedView

from fed.v1 import types_pb2
from proxy.routing import WorkerRouter


def assign(cache: UpdatedView, worker: str, clusters: list[str], publishes: list[str]) -> None:
    record = types_pb2.Assignment(worker=worker, clusters=clusters, publishes=publishes)
    cache.put(KEYS.assignment(worker), record)


def router_for(cache: UpdatedView) -> WorkerRouter:
    return WorkerRouter(cache, batch_window_s=0.001, timeout_s=1.0)  # type: ignore[arg-type]


def test_the_status_publisher_comes_first_then_by_name_and_only_live_workers_count() -> None:
    cache = UpdatedView()
    for worker in ("w1", "w2", "w3"):
        cache.put(KEYS.worker(worker), types_pb2.MemberRecord(id=worker))
    assign(cache, "w1", ["a", "b"], [])
    assign(cache, "w3", ["a", "a"], ["a"])
    assign(cache, "w2", ["a"], [])
    assign(cache, "w9", ["a"], ["a"])  # assigned, but no live record
    router = router_for(cache)
    assert router.workers_for("a") == ["w3", "w1", "w2"]
    assert router.workers_for("b") == ["w1"]
    assert router.workers_for("c") == []


def test_a_worker_that_leaves_or_is_reassigned_is_seen_at_the_next_lookup() -> None:
    cache = UpdatedView()
    for worker in ("w1", "w2"):
        cache.put(KEYS.worker(worker), types_pb2.MemberRecord(id=worker))
    assign(cache, "w1", ["a"], ["a"])
    assign(cache, "w2", ["a"], [])
    router = router_for(cache)
    assert router.workers_for("a") == ["w1", "w2"]
    cache.delete(KEYS.worker("w1"))
    assert router.workers_for("a") == ["w2"]
    assign(cache, "w2", ["b"], ["b"])
    assert router.workers_for("a") == []
    assert router.workers_for("b") == ["w2"]
    cache.updater.reset()  # a resync starts from an empty view
    assert router.workers_for("b") == []
