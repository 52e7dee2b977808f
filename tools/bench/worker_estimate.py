"""Estimate latency of one worker on a big emulated cluster, and the worker's memory.

Starts an embedded etcd, a kubesim child process with one cluster of `--nodes` nodes and a
`fed-worker` child process serving it. Fills the cluster with `--pods` pods: half through
the worker's Apply (federated Deployments), half as foreign Deployments posted straight to
the emulator. Once the worker's cache holds every pod, it times `--requests` Estimate calls
(client-side round trips over gRPC, several shapes, with and without a node selector and
assumed reservations) and reads the worker's RSS. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import grpc

from common.etcd_launcher import EmbeddedEtcd, die_with_parent, free_port
from common.etcd_store import EtcdStore
from common.keys import Keys
from fed.v1 import types_pb2, worker_pb2, worker_pb2_grpc
from tools.kubesim import SimConfig, SimProcess

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
MI = 1024**2
SHAPES = [(100, 128 * MI), (250, 256 * MI), (500, 512 * MI), (1000, 1024 * MI)]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=50_000)
    parser.add_argument("--workloads", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=150.0, help="seconds to fill the cluster")
    return parser.parse_args()


def wait_until(condition: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"worker_estimate: timed out waiting for {what}")
        time.sleep(0.2)


def write_records(endpoint: str, keys: Keys, kubeconfig: str, url: str) -> None:
    async def main() -> None:
        async with EtcdStore([endpoint]) as store:
            spec = types_pb2.ClusterSpec(name="c1", endpoint=url, kubeconfig=kubeconfig)
            await store.put(keys.cluster_spec("c1"), spec.SerializeToString())
            assignment = types_pb2.Assignment(worker="bench", clusters=["c1"], publishes=["c1"])
            await store.put(keys.assignment("bench"), assignment.SerializeToString())

    asyncio.run(main())


@contextmanager
def worker(endpoint: str, keys: Keys) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    address = f"127.0.0.1:{free_port()}"
    cmd = [
        sys.executable, "-m", "worker", "--etcd", endpoint, "--listen", address, "--id", "bench",
        "--set", f"etcd.prefix={keys.prefix}", "--set", "observability.log_level=WARNING",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, preexec_fn=die_with_parent)  # noqa: PLW1509
    try:
        yield proc, address
    finally:
        proc.terminate()
        proc.wait(20)


def post_foreign(url: str, index: int, replicas: int) -> None:
    cpu, memory = SHAPES[index % len(SHAPES)]
    labels = {"app": f"foreign-{index}"}
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"foreign-{index}", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "x",
                            "resources": {"requests": {"cpu": f"{cpu}m", "memory": str(memory)}},
                        }
                    ]
                },
            },
        },
    }
    request = urllib.request.Request(
        f"{url}/apis/apps/v1/namespaces/default/deployments",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": "Bearer kubesim"},
    )
    with urllib.request.urlopen(request, timeout=30):
        pass


def fill(stub: worker_pb2_grpc.WorkerStub, url: str, workloads: int, pods: int) -> None:
    replicas = pods // workloads
    for index in range(workloads):
        if index % 2:
            post_foreign(url, index, replicas)
            continue
        cpu, memory = SHAPES[index % len(SHAPES)]
        stub.Apply(
            worker_pb2.ApplyRequest(
                cluster="c1",
                namespace="bench",
                name=f"fed-{index}",
                reservation_id=f"r-{index}",
                epoch=1,
                replicas=replicas,
                per_replica=types_pb2.Resources(cpu_millis=cpu, memory_bytes=memory),
            ),
            timeout=30,
        )


def cache_full(stub: worker_pb2_grpc.WorkerStub, pods: int) -> worker_pb2.ClusterSnapshot | None:
    try:
        snapshot = stub.GetClusterSnapshot(
            worker_pb2.GetClusterSnapshotRequest(cluster="c1"), timeout=10
        )
    except grpc.RpcError:
        return None
    full = snapshot.pods_total >= pods and snapshot.status.pending_pods == 0
    return snapshot if full else None


def requests() -> list[worker_pb2.EstimateRequest]:
    out = []
    for cpu, memory in [(500, 512 * MI), (2000, 4096 * MI), (4000, 16384 * MI)]:
        shape = types_pb2.Resources(cpu_millis=cpu, memory_bytes=memory)
        out.append(worker_pb2.EstimateRequest(cluster="c1", per_replica=shape))
        out.append(
            worker_pb2.EstimateRequest(
                cluster="c1",
                per_replica=shape,
                node_selector={"topology.kubernetes.io/zone": "r1-a"},
                assumed=[
                    worker_pb2.AssumedReservation(
                        reservation_id="pending", per_replica=shape, replicas=200
                    )
                ],
            )
        )
    return out


def time_estimates(stub: worker_pb2_grpc.WorkerStub, count: int) -> list[float]:
    variants = requests()
    for request in variants:
        stub.Estimate(request, timeout=5)
    latencies = []
    for index in range(count):
        started = time.perf_counter()
        stub.Estimate(variants[index % len(variants)], timeout=5)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    keys = Keys("/bench")
    config = SimConfig(clusters=1, nodes=args.nodes, kubelet_delay=0.1, termination_delay=0.1)
    with EmbeddedEtcd.create(out / "etcd") as etcd, SimProcess(config, out / "kubesim") as sim:
        info = sim.clusters[0]
        write_records(etcd.endpoint, keys, Path(info["kubeconfig"]).read_text(), info["url"])
        with worker(etcd.endpoint, keys) as (proc, address), grpc.insecure_channel(address) as ch:
            stub = worker_pb2_grpc.WorkerStub(ch)
            wait_until(lambda: cache_full(stub, 0), 60, "the worker's first sync")
            started = time.monotonic()
            fill(stub, info["url"], args.workloads, args.pods)
            snapshot = wait_until(lambda: cache_full(stub, args.pods), args.timeout, "pods")
            filled_s = time.monotonic() - started
            latencies = time_estimates(stub, args.requests)
            rss = rss_mib(proc.pid)
    return {
        "nodes": snapshot.status.nodes_total,
        "pods": snapshot.pods_total,
        "fill_seconds": round(filled_s, 1),
        "estimate_requests": len(latencies),
        "estimate_p50_ms": round(statistics.median(latencies), 3),
        "estimate_p99_ms": round(percentile(latencies, 0.99), 3),
        "estimate_max_ms": round(max(latencies), 3),
        "worker_rss_mib": round(rss, 1),
        "goal_p99_ms": 5.0,
    }


def main() -> None:
    args = parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    with tempfile.TemporaryDirectory(prefix="worker-bench-") as tmp:
        result = run(args, Path(tmp))
    print(f"{result['nodes']} nodes, {result['pods']} pods (filled in {result['fill_seconds']} s)")
    print(
        f"Estimate over gRPC: p50 {result['estimate_p50_ms']} ms, "
        f"p99 {result['estimate_p99_ms']} ms, max {result['estimate_max_ms']} ms "
        f"({result['estimate_requests']} requests; goal p99 <= 5 ms)"
    )
    print(f"worker RSS: {result['worker_rss_mib']} MiB")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
