"""A benchmark fleet's cluster records and status heartbeats, from a process of its own.

The records are what an admin leaves (written once) and the statuses what workers publish:
each cluster's status again every `--period-s`, on its own timer, so the heartbeats of N
clusters are spread over the period as workers' are (worker.status_period_s). They used to
be published from the load generator's own event loop, every record at once every 2 s, which
is not how workers publish and held the loop that times the calls: in a copy of the
benchmark's open-loop phase (after a 5 s warm-up), p99 at 1,000/s was 10.3-11.6 ms that way
and 8.4-9.2 ms this way in 3 alternating pairs. In the whole benchmark, 8 alternating pairs
showed no difference (medians 9.6 ms both): there the slowest calls follow etcd's collections.

    python -m tools.bench.fleet_status --etcd HOST:PORT [--prefix /bench] [--clusters 20]

prints {"event": "ready"} once every record is written, then publishes until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time

from common import event_loop
from common.etcd_store import EtcdStore
from common.keys import Keys
from fed.v1 import types_pb2
from tools.devstack.child import JsonLinesChild
from worker.settings import WorkerSection

GIB = 1 << 30
PREFIX = "/bench"


def cluster_spec(index: int) -> types_pb2.ClusterSpec:
    """Cluster `c{index + 1}`, in one of three regions, as an admin registered it."""
    return types_pb2.ClusterSpec(
        name=f"c{index + 1}", endpoint="http://127.0.0.1:9", region=f"r{index % 3 + 1}",
        state=types_pb2.ADMIN_STATE_ACTIVE,
    )  # fmt: skip


def cluster_status(index: int) -> types_pb2.ClusterStatus:
    """Its status as its worker publishes it: 1,000 nodes of 32 CPUs / 128 GiB, all free."""
    return types_pb2.ClusterStatus(
        cluster=f"c{index + 1}",
        reachable=True,
        allocatable=types_pb2.Resources(
            cpu_millis=1000 * 32 * 1000, memory_bytes=1000 * 128 * GIB, pods=110_000
        ),
        nodes_total=1000,
        nodes_ready=1000,
        node_grades=[
            types_pb2.NodeGrade(
                free_cpu_millis=32_000, free_memory_bytes=128 * GIB, free_pods=110, count=1000
            )
        ],
    )


async def publish(endpoint: str, keys: Keys, clusters: int, period_s: float) -> None:
    """Write every record, report ready, then re-publish one cluster's status every
    `period_s / clusters`, in turn."""
    statuses = [cluster_status(index) for index in range(clusters)]
    async with EtcdStore([endpoint]) as store:
        for index, status in enumerate(statuses):
            status.heartbeat.GetCurrentTime()
            spec = cluster_spec(index)
            await store.put(keys.cluster_spec(spec.name), spec.SerializeToString())
            await store.put(keys.cluster_status(spec.name), status.SerializeToString())
        print(json.dumps({"event": "ready"}), flush=True)
        started = time.monotonic()
        for beat in itertools.count(1):
            await asyncio.sleep(max(0.0, started + beat * period_s / clusters - time.monotonic()))
            status = statuses[beat % clusters]
            status.heartbeat.GetCurrentTime()
            await store.put(keys.cluster_status(status.cluster), status.SerializeToString())


def start(
    endpoint: str,
    clusters: int,
    *,
    prefix: str = PREFIX,
    period_s: float = WorkerSection.status_period_s,
) -> JsonLinesChild:
    """The publisher as a child process, once its records are written."""
    child = JsonLinesChild(
        "fleet-status",
        "tools.bench.fleet_status",
        ["--etcd", endpoint, "--prefix", prefix, "--clusters", str(clusters),
         "--period-s", str(period_s)],
    )  # fmt: skip
    try:
        child.expect("ready", 20)
    except BaseException:
        child.stop()
        raise
    return child


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--etcd", required=True)
    parser.add_argument("--prefix", default=PREFIX)
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--period-s", type=float, default=WorkerSection.status_period_s)
    args = parser.parse_args()
    event_loop.run(publish(args.etcd, Keys(args.prefix), args.clusters, args.period_s))


if __name__ == "__main__":
    main()
