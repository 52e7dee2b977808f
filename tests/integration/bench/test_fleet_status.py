"""The benchmarks' fleet publisher: records once, then one cluster's heartbeat at a time."""

from __future__ import annotations

import pytest

from common.etcd_launcher import EmbeddedEtcd
from common.etcd_store import EtcdStore
from common.keys import Keys
from fed.v1 import types_pb2
from tools.bench import fleet_status

pytestmark = pytest.mark.integration


async def test_records_then_heartbeats_in_turn(
    etcd: EmbeddedEtcd, store: EtcdStore, keys: Keys
) -> None:
    publisher = fleet_status.start(etcd.endpoint, 4, prefix=keys.prefix, period_s=0.4)
    listed = await store.range(keys.clusters_prefix())
    watch = store.watch_prefix(keys.clusters_prefix(), start_revision=listed.revision + 1)
    try:
        beats: list[types_pb2.ClusterStatus] = []
        async for batch in watch:
            for event in batch.events:
                assert event.kv.key.endswith("/status"), "a record was written again"
                beats.append(types_pb2.ClusterStatus.FromString(event.kv.value))
            if len(beats) >= 9:
                break
    finally:
        await watch.aclose()
        publisher.stop()
    assert sorted(kv.key for kv in listed.kvs) == sorted(
        key
        for index in range(4)
        for key in (keys.cluster_spec(f"c{index + 1}"), keys.cluster_status(f"c{index + 1}"))
    )
    order = [beat.cluster for beat in beats]
    start = ["c1", "c2", "c3", "c4"].index(order[0])
    assert order == [f"c{(start + step) % 4 + 1}" for step in range(len(order))]
    assert (
        beats[8].heartbeat.ToNanoseconds()
        > beats[4].heartbeat.ToNanoseconds()
        > beats[0].heartbeat.ToNanoseconds()
    )
    assert all(beat.nodes_ready == 1000 for beat in beats)
