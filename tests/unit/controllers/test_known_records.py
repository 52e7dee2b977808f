"""The leader's cache takes the writer's own records back from the watch instead of
decoding a second copy, and only when the event carries exactly the staged bytes."""

from __future__ import annotations

from common.etcd_store import EventType, KeyValue, WatchBatch, WatchEvent
from common.keys import Keys
from fed.v1 import types_pb2
from proxy.cache import FedCache

KEYS = Keys("/t")


def workload(replicas: int) -> types_pb2.Workload:
    return types_pb2.Workload(
        spec=types_pb2.WorkloadSpec(namespace="team", name="web", replicas=replicas)
    )


def put(cache: FedCache, key: str, value: bytes, revision: int) -> None:
    kv = KeyValue(key, value, revision, revision, 1, 0)
    cache._apply(WatchBatch(revision, [WatchEvent(EventType.PUT, kv)]))


def cache() -> FedCache:
    return FedCache(None, KEYS)  # type: ignore[arg-type]  # no etcd: events are fed in


def test_an_event_with_the_staged_bytes_reuses_the_staged_record() -> None:
    fed = cache()
    key = KEYS.workload("team", "web")
    staged = workload(3)
    fed.known.remember(key, staged.SerializeToString(), staged)
    put(fed, key, staged.SerializeToString(), 5)
    assert fed.view.workloads[("team", "web")] is staged
    assert len(fed.known) == 0, "the event settled the key"


def test_other_bytes_are_decoded_and_the_staged_record_is_forgotten() -> None:
    fed = cache()
    key = KEYS.workload("team", "web")
    staged, written = workload(3), workload(4)
    fed.known.remember(key, staged.SerializeToString(), staged)
    put(fed, key, written.SerializeToString(), 5)
    assert fed.view.workloads[("team", "web")] == written
    assert len(fed.known) == 0
    put(fed, key, staged.SerializeToString(), 6)
    assert fed.view.workloads[("team", "web")] is not staged, "nothing remembered any more"


def test_a_record_of_another_kind_is_never_taken() -> None:
    fed = cache()
    key = KEYS.reservation("a", "r-1")
    wrong = workload(0)
    fed.known.remember(key, b"", wrong)
    put(fed, key, b"", 5)
    assert fed.view.reservations["a"]["r-1"] == types_pb2.Reservation()
