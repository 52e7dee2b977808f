"""Cache subscribers get the changes under the prefixes they asked for, and every resync."""

from __future__ import annotations

import asyncio

from common.etcd_store import EventType, KeyValue, WatchBatch, WatchEvent
from common.keys import Keys
from proxy.cache import Change, FedCache

KEYS = Keys("/t")


def drained(queue: asyncio.Queue[Change]) -> list[str]:
    keys = []
    while not queue.empty():
        change = queue.get_nowait()
        keys.append("<resync>" if change.resynced else change.key)
    return keys


def event(key: str, revision: int) -> WatchEvent:
    return WatchEvent(EventType.PUT, KeyValue(key, b"", revision, revision, 1, 0))


async def test_a_subscriber_of_prefixes_gets_only_their_changes_and_resyncs() -> None:
    cache = FedCache(None, KEYS)  # type: ignore[arg-type]  # no etcd: batches are fed in
    workers = cache.subscribe(KEYS.workers_prefix())
    everything = cache.subscribe()
    worker_key, workload_key = KEYS.workers_prefix() + "w1", KEYS.workload("team", "web")
    cache._apply(WatchBatch(2, [event(workload_key, 1), event(worker_key, 2)]))
    cache._apply(WatchBatch(3, resynced=True))
    assert drained(workers) == [worker_key, "<resync>"]
    assert drained(everything) == [workload_key, worker_key, "<resync>"]
