"""Benchmark of the placement engine: decisions per second on a 100-cluster fleet.

A batch of 1,000 requests in 20 equivalence classes, scheduled with classes shared (filter
and score once per class) and without (filter and score every request). Prints its figures;
the last line is one JSON object with them.

    python -m tools.bench.engine [--clusters 100] [--requests 1000] [--classes 20] [--runs 2]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass

from fed.v1 import types_pb2
from proxy.ledger import Ledger
from proxy.scheduler.engine import Engine
from proxy.scheduler.model import PlacementRequest, Snapshot
from proxy.scheduler.resources import Quantity

GI = 1 << 30
REGIONS = ("eu", "us", "ap")


@dataclass(frozen=True)
class Figures:
    clusters: int
    requests: int
    classes: int
    placed: int
    with_classes_per_s: float
    without_classes_per_s: float

    def speedup(self) -> float:
        return self.with_classes_per_s / self.without_classes_per_s


def _grade(cpu: int, memory: int, count: int) -> types_pb2.NodeGrade:
    return types_pb2.NodeGrade(
        free_cpu_millis=cpu, free_memory_bytes=memory, free_pods=110, count=count
    )


def build_fleet(count: int, rng: random.Random) -> Snapshot:
    specs, statuses, health = [], {}, {}
    for index in range(count):
        name = f"cluster-{index:03d}"
        region = REGIONS[index % len(REGIONS)]
        nodes = rng.randint(20, 60)
        big = rng.randint(0, nodes // 2)
        allocatable = Quantity(16000 * nodes, 64 * GI * nodes, 0, 110 * nodes)
        specs.append(
            types_pb2.ClusterSpec(
                name=name,
                region=region,
                zone=f"{region}-{'abc'[index % 3]}",
                labels={"tier": rng.choice(("gold", "silver"))},
                state=types_pb2.ADMIN_STATE_ACTIVE,
            )
        )
        statuses[name] = types_pb2.ClusterStatus(
            cluster=name,
            allocatable=allocatable.to_proto(),
            foreign_requested=allocatable.scaled(rng.uniform(0.1, 0.5)).to_proto(),
            nodes_total=nodes,
            nodes_ready=nodes,
            hot_node_ratio=rng.uniform(0, 0.3),
            fragmentation_index=rng.uniform(0, 0.4),
            api_latency_p99_ms=rng.uniform(10, 500),
            node_grades=[
                _grade(16000, 64 * GI, nodes - big),
                _grade(4000, 16 * GI, big),
            ],
        )
        health[name] = types_pb2.CLUSTER_HEALTH_READY
    return Snapshot.build(specs, statuses, health)


def _policies() -> list[types_pb2.PlacementPolicy]:
    return [
        types_pb2.PlacementPolicy(),
        types_pb2.PlacementPolicy(regions=["eu", "us"]),
        types_pb2.PlacementPolicy(preferred_regions=["ap"], per_cluster_max=4),
        types_pb2.PlacementPolicy(
            cluster_selector=types_pb2.LabelSelector(match_labels={"tier": "gold"}),
            spread=types_pb2.SpreadConstraint(topology="region", max_skew=1),
        ),
    ]


def build_requests(count: int, classes: int, rng: random.Random) -> list[PlacementRequest]:
    policies = _policies()
    shapes = [Quantity(250 * (1 + index), GI // 2 * (1 + index), 0, 1) for index in range(16)]
    kinds = [
        (shapes[index % len(shapes)], policies[index % len(policies)]) for index in range(classes)
    ]
    requests = []
    for index in range(count):
        shape, policy = kinds[index % classes]
        requests.append(
            PlacementRequest(
                workload=f"bench/w{index}",
                shape=shape,
                replicas=rng.randint(1, 12),
                policy=policy,
                priority=rng.randint(0, 3),
                request_id=f"r{index}",
            )
        )
    return requests


def _rate(
    engine: Engine, snapshot: Snapshot, requests: list[PlacementRequest], share: bool, runs: int
) -> tuple[float, int]:
    best = float("inf")
    placed = 0
    for _ in range(runs):
        ledger = Ledger()
        started = time.perf_counter()
        outcomes = engine.schedule_batch(snapshot, ledger, requests, share_classes=share)
        best = min(best, time.perf_counter() - started)
        placed = sum(1 for item in outcomes if item.decision.ok)
    return len(requests) / best, placed


def run(clusters: int, requests: int, classes: int, runs: int) -> Figures:
    rng = random.Random(5)
    snapshot = build_fleet(clusters, rng)
    stream = build_requests(requests, classes, rng)
    engine = Engine()
    with_classes, placed = _rate(engine, snapshot, stream, True, runs)
    without_classes, _ = _rate(engine, snapshot, stream, False, runs)
    return Figures(clusters, requests, classes, placed, with_classes, without_classes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    figures = run(args.clusters, args.requests, args.classes, args.runs)
    print(f"fleet: {figures.clusters} clusters; batch: {figures.requests} requests")
    print(f"equivalence classes: {figures.classes}; placed: {figures.placed}")
    print(f"with classes:    {figures.with_classes_per_s:10.0f} decisions/s")
    print(f"without classes: {figures.without_classes_per_s:10.0f} decisions/s")
    print(f"speed-up:        {figures.speedup():10.1f}x")
    summary = {
        "clusters": figures.clusters,
        "requests": figures.requests,
        "classes": figures.classes,
        "placed": figures.placed,
        "decisions_per_s_with_classes": round(figures.with_classes_per_s, 1),
        "decisions_per_s_without_classes": round(figures.without_classes_per_s, 1),
        "speedup": round(figures.speedup(), 2),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
