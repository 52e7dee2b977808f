"""The leader's CPU per placement when clients write through a follower.

Every write runs on the leader; a follower forwards the writes its clients send. One run
starts an embedded etcd, the placement benchmark's fleet of published clusters, a leader and
one follower, and drives the follower with the placement benchmark's closed loop of N
clients (placements/s, latency, and the CPU per placement of the leader, the follower and
etcd), then with its open loop at a fixed rate (latency at that rate). The last line is one
JSON object.

    python -m tools.bench.forwarding [--clients 64] [--clusters 20] [--seconds 5] [--rate 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json

import grpc

from common.etcd_launcher import EmbeddedEtcd
from fed.v1 import federation_pb2, federation_pb2_grpc, types_pb2
from tools.bench import fleet_status
from tools.bench.placement import (
    bench_etcd,
    closed_loop,
    load_arguments,
    open_loop,
    place_call,
    wait_ready,
)
from tools.devstack.child import JsonLinesChild


def proxy_child(name: str, endpoint: str, window_ms: float) -> JsonLinesChild:
    return JsonLinesChild(
        name, "proxy",
        ["--etcd", endpoint, "--id", name, "--set", f"etcd.prefix={fleet_status.PREFIX}",
         "--set", f"proxy.batch_window_ms={window_ms}",
         "--set", "observability.log_level=WARNING", "--set", "etcd.max_txn_ops=128"],
    )  # fmt: skip


async def wait_following(address: str, leader: str, clusters: int) -> None:
    """Until the follower knows the leader and sees every cluster Ready."""
    api = federation_pb2_grpc.FederationStub(grpc.aio.insecure_channel(address))
    for _ in range(400):
        topology = await api.GetTopology(federation_pb2.GetTopologyRequest())
        listed = await api.ListClusters(federation_pb2.ListClustersRequest())
        ready = [c for c in listed.clusters if c.health.health == types_pb2.CLUSTER_HEALTH_READY]
        if topology.leader.member.id == leader and len(ready) == clusters:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("the follower did not see the leader and every cluster Ready")


async def bench(args: argparse.Namespace, etcd: EmbeddedEtcd) -> dict[str, object]:
    fleet = fleet_status.start(etcd.endpoint, args.clusters)
    leader = proxy_child("leader", etcd.endpoint, args.window_ms)
    follower: JsonLinesChild | None = None
    try:
        await wait_ready(leader.expect("ready", 20)[0]["address"], args.clusters)
        follower = proxy_child("follower", etcd.endpoint, args.window_ms)
        address = follower.expect("ready", 20)[0]["address"]
        await wait_following(address, "leader", args.clusters)
        await closed_loop(place_call(address, "warm"), args.clients, 1.0)
        run = await closed_loop(
            place_call(address, "f"),
            args.clients,
            args.seconds,
            {"leader": leader.pid, "follower": follower.pid, "etcd": etcd.pid},
        )
        rated = await open_loop(place_call(address, "r"), args.rate, args.seconds)
    finally:
        if follower is not None:
            follower.stop()
        leader.stop()
        fleet.stop()
    return {
        "clients": args.clients,
        "clusters": args.clusters,
        "through_follower": run,
        f"through_follower_at_{int(args.rate)}_per_s": rated,
    }


def main() -> None:
    args = load_arguments(__doc__).parse_args()
    with bench_etcd(args) as etcd:
        results = asyncio.run(bench(args, etcd))
    print(f"through a follower: {results['through_follower']}")
    rated = f"through_follower_at_{int(args.rate)}_per_s"
    print(f"{rated}: {results[rated]}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
