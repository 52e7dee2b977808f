"""CPU per placement of the leader's round planning, in process, without I/O.

The placement benchmark's fleet (identical clusters with one node grade each, recorded
health) and requests (2 replicas of 100m / 128Mi, fresh workloads), planned in rounds of
`--batch` by the writer's RoundPlanner over a growing ledger and record set: what a
placement costs the leader's event loop between the batcher and the fenced commit. With
`--heartbeats K`, K clusters publish a new status (only its heartbeat time changes) before
each round, as workers do every few seconds: what that costs grows with the fleet. The last
line is one JSON object.

    python -m tools.bench.planner [--clusters 20] [--batch 10] [--rounds 600] [--heartbeats 0]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from common.etcd_store import Put
from common.keys import Keys
from fed.v1 import types_pb2
from proxy.fleet import LiveSnapshots
from proxy.known_records import KnownRecords
from proxy.ledger import Ledger
from proxy.requests import RequestLog
from proxy.scheduler.batcher import Pending
from proxy.scheduler.engine import Engine
from proxy.view import ClusterEntry, FedView
from proxy.write_round import Prepared, RoundPlanner, WriteItem, admit
from tools.bench import fleet_status
from tools.bench.placement import place_request

KEYS = Keys("/bench")


class UnsavedAnswers(RequestLog):
    """The request log's staging without etcd (the planner only builds the Put); the
    scheduler tests plan with it too."""

    def __init__(self, keys: Keys) -> None:
        self._keys = keys

    def record(
        self,
        request_id: str,
        method: str,
        request_digest: bytes,
        response: Message,
        created: Timestamp | None = None,
    ) -> Put:
        return Put(self._keys.request(request_id), response.SerializeToString())


def fleet(clusters: int) -> FedView:
    """The placement benchmark's fleet (tools.bench.fleet_status), each cluster Ready."""
    view = FedView()
    for index in range(clusters):
        spec, status = fleet_status.cluster_spec(index), fleet_status.cluster_status(index)
        status.heartbeat.GetCurrentTime()
        health = types_pb2.ClusterHealthRecord(
            cluster=spec.name, health=types_pb2.CLUSTER_HEALTH_READY
        )
        view.clusters[spec.name] = ClusterEntry(spec, status, health)
    return view


class Fleet:
    """What the writer's snapshots read of the cache: its view (no store, no watch)."""

    def __init__(self, view: FedView) -> None:
        self.view = view


def requests(first: int, count: int) -> list[Pending[WriteItem, Message]]:
    return [
        Pending(("PlaceWorkload", place_request(f"p-{serial}")))
        for serial in range(first, first + count)
    ]


def heartbeat(view: FedView, name: str) -> None:
    """The cluster's status again, with a new heartbeat time (as its worker publishes it)."""
    entry = view.clusters[name]
    status = types_pb2.ClusterStatus()
    if entry.status is not None:
        status.CopyFrom(entry.status)
    status.heartbeat.GetCurrentTime()
    entry.status = status
    view.cluster_changes += 1


async def measure(clusters: int, batch: int, rounds: int, heartbeats: int = 0) -> dict[str, float]:
    cache = Fleet(fleet(clusters))
    names = itertools.cycle(sorted(cache.view.clusters))
    known = KnownRecords()
    workloads: dict[tuple[str, str], types_pb2.Workload] = {}
    planner = RoundPlanner(
        KEYS,
        Engine(),
        Ledger(),
        workloads,
        UnsavedAnswers(KEYS),
        LiveSnapshots(cache, 30.0),
        known,
    )
    spent = 0.0
    placed = 0
    for index in range(rounds + rounds // 10):
        for _ in range(heartbeats):
            heartbeat(cache.view, next(names))
        prepared: list[Prepared] = admit(requests(index * batch, batch))
        started = time.perf_counter()
        planner.plan(prepared, epoch=1)
        planner.keep()
        elapsed = time.perf_counter() - started
        known.clear()  # what the cache would take back from the watch
        if any(item.error is not None for item in prepared):
            raise RuntimeError(f"a placement failed: {prepared[0].error}")
        if index >= rounds // 10:  # the first tenth warms the caches up
            spent += elapsed
            placed += len(prepared)
    return {
        "clusters": clusters,
        "batch": batch,
        "heartbeats": heartbeats,
        "placements": placed,
        "us_per_placement": round(spent / placed * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=600)
    parser.add_argument("--heartbeats", type=int, default=0, help="status changes per round")
    args = parser.parse_args()
    figures = asyncio.run(measure(args.clusters, args.batch, args.rounds, args.heartbeats))
    print(f"round planning: {figures['us_per_placement']} us per placement")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
