"""The writer's fleet snapshot is rebuilt only when a cluster record changed, or when a
cluster's health is derived from its heartbeat's age (which moves with the clock)."""

from __future__ import annotations

from google.protobuf.message import Message

from common.etcd_store import EventType, KeyValue, WatchBatch, WatchEvent
from common.keys import Keys
from fed.v1 import types_pb2
from proxy.cache import FedCache
from proxy.fleet import LiveSnapshots

KEYS = Keys("/t")


def put(key: str, record: Message, revision: int) -> WatchEvent:
    value = record.SerializeToString()
    return WatchEvent(EventType.PUT, KeyValue(key, value, revision, revision, 1, 0))


def cluster(name: str, revision: int, *, recorded_health: bool) -> list[WatchEvent]:
    status = types_pb2.ClusterStatus(cluster=name, reachable=True)
    status.heartbeat.GetCurrentTime()
    events = [
        put(KEYS.cluster_spec(name), types_pb2.ClusterSpec(name=name), revision),
        put(KEYS.cluster_status(name), status, revision),
    ]
    if recorded_health:
        health = types_pb2.ClusterHealthRecord(cluster=name, health=types_pb2.CLUSTER_HEALTH_READY)
        events.append(put(KEYS.cluster_health(name), health, revision))
    return events


def test_the_snapshot_is_kept_until_a_cluster_record_changes() -> None:
    cache = FedCache(None, KEYS)  # type: ignore[arg-type]  # no etcd: batches are fed in
    cache._apply(WatchBatch(1, cluster("a", 1, recorded_health=True)))
    snapshots = LiveSnapshots(cache, stale_after_s=30.0)
    first = snapshots()
    assert snapshots() is first
    cache._apply(WatchBatch(2, [put(KEYS.workload("t", "w"), types_pb2.Workload(), 2)]))
    assert snapshots() is first  # a workload record is no cluster record
    cache._apply(WatchBatch(3, cluster("b", 3, recorded_health=True)))
    second = snapshots()
    assert second is not first
    assert second.names() == ["a", "b"]
    assert second.clusters[0] is first.clusters[0]  # a's view is reused


def test_a_health_derived_from_the_heartbeat_is_worked_out_afresh_each_time() -> None:
    cache = FedCache(None, KEYS)  # type: ignore[arg-type]
    cache._apply(WatchBatch(1, cluster("a", 1, recorded_health=False)))
    snapshots = LiveSnapshots(cache, stale_after_s=30.0)
    first = snapshots()
    assert first.clusters[0].health == types_pb2.CLUSTER_HEALTH_READY
    assert snapshots() is not first
