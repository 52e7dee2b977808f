"""Benchmark kubesim: pod creates/s and gets/s through the official `kubernetes` client, and
the simulator's RSS for two fleet shapes (10 x 5,000 and 100 x 1,000 nodes).

`python -m tools.bench.kubesim [--pods 3000 --procs 2 --quick]`; the last line of output is
one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config

from tools.bench.proc import cpu_seconds, rss_mib
from tools.kubesim import SimConfig, SimProcess

RSS_GOAL_MIB = 4096
new_client: Callable[[str], client.ApiClient] = config.new_client_from_config


@dataclass
class FleetFigures:
    clusters: int
    nodes_per_cluster: int
    startup_s: float
    rss_mib: float
    peak_rss_mib: float
    node_list_s: float
    pods: int = 0
    pods_running_s: float = 0.0
    rss_with_pods_mib: float = 0.0
    peak_rss_with_pods_mib: float = 0.0


def pod(name: str) -> client.V1Pod:
    container = client.V1Container(
        name="app",
        image="nginx:1.27",
        resources=client.V1ResourceRequirements(requests={"cpu": "10m", "memory": "16Mi"}),
    )
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"bench": "kubesim"}),
        spec=client.V1PodSpec(containers=[container]),
    )


def _client_worker(kubeconfig: str, names: list[str], start: Any, results: Any) -> None:
    """One client process: create then get its pods, timing each phase between barriers."""
    core = client.CoreV1Api(new_client(kubeconfig))
    core.list_namespaced_pod("default", limit=1)
    start.wait()
    began, cpu_began = time.time(), time.process_time()
    for name in names:
        core.create_namespaced_pod("default", pod(name))
    created, cpu_created = time.time(), time.process_time()
    start.wait()
    got_from, cpu_got_from = time.time(), time.process_time()
    for name in names:
        core.read_namespaced_pod(name, "default")
    done, cpu_done = time.time(), time.process_time()
    results.put((began, created, got_from, done, cpu_created - cpu_began, cpu_done - cpu_got_from))


def api_throughput(pods: int, procs: int, out: Path) -> dict[str, float]:
    """Creates/s and gets/s of `procs` client processes against one cluster, control plane on."""
    ctx = multiprocessing.get_context("spawn")
    cfg = SimConfig(clusters=1, nodes=100, kubelet_delay=0.2)
    with SimProcess(cfg, out) as sim:
        kubeconfig = sim.clusters[0]["kubeconfig"]
        barrier, results = ctx.Barrier(procs + 1), ctx.Queue()
        shares = [[f"bench-{i}" for i in range(p, pods, procs)] for p in range(procs)]
        workers = [
            ctx.Process(target=_client_worker, args=(kubeconfig, share, barrier, results))
            for share in shares
        ]
        for worker in workers:
            worker.start()
        barrier.wait(timeout=120)
        cpu_start = cpu_seconds(sim.pid)
        barrier.wait(timeout=300)
        cpu_created = cpu_seconds(sim.pid)
        spans = [results.get(timeout=300) for _ in workers]
        cpu_done = cpu_seconds(sim.pid)
        for worker in workers:
            worker.join(30)
        core = client.CoreV1Api(new_client(kubeconfig))
        began = time.perf_counter()
        listed = len(core.list_namespaced_pod("default").items)
        list_s = time.perf_counter() - began
    if listed != pods:
        raise RuntimeError(f"expected {pods} pods, listed {listed}")
    create_s = max(s[1] for s in spans) - min(s[0] for s in spans)
    get_s = max(s[3] for s in spans) - min(s[2] for s in spans)
    return {
        "creates_per_s": pods / create_s,
        "gets_per_s": pods / get_s,
        "list_pods_s": list_s,
        "server_cpu_us_per_create": (cpu_created - cpu_start) / pods * 1e6,
        "server_cpu_us_per_get": (cpu_done - cpu_created) / pods * 1e6,
        "client_cpu_us_per_create": sum(s[4] for s in spans) / pods * 1e6,
        "client_cpu_us_per_get": sum(s[5] for s in spans) / pods * 1e6,
    }


def warm_lists(clusters: list[dict[str, object]]) -> float:
    """GET every cluster's full node list (raw HTTP), so cached JSON counts in RSS."""
    began = time.perf_counter()
    for cluster in clusters:
        with urllib.request.urlopen(f"{cluster['url']}/api/v1/nodes", timeout=120) as response:
            doc = json.loads(response.read())
        assert len(doc["items"]) == cluster["nodes"]
    return time.perf_counter() - began


def http_json(url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        doc: dict[str, Any] = json.loads(response.read())
    return doc


def deployment(replicas: int) -> dict[str, Any]:
    labels = {"app": "bench"}
    container = {
        "name": "app",
        "image": "nginx:1.27",
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "bench"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def run_pods(clusters: list[dict[str, Any]], per_node: int, timeout: float = 300) -> float:
    """One Deployment of nodes x `per_node` replicas per cluster; seconds until all Running."""
    began = time.perf_counter()
    for cluster in clusters:
        path = "/apis/apps/v1/namespaces/default/deployments"
        http_json(f"{cluster['url']}{path}", deployment(cluster["nodes"] * per_node))
    pending = list(clusters)
    while pending:
        if time.perf_counter() - began > timeout:
            raise RuntimeError(f"{len(pending)} clusters did not run their pods in {timeout}s")
        time.sleep(0.5)
        pending = [c for c in pending if not _available(c, c["nodes"] * per_node)]
    return time.perf_counter() - began


def _available(cluster: dict[str, Any], replicas: int) -> bool:
    url = f"{cluster['url']}/apis/apps/v1/namespaces/default/deployments/bench"
    return bool(http_json(url).get("status", {}).get("availableReplicas") == replicas)


def fleet_figures(clusters: int, nodes: int, out: Path, pods_per_node: int) -> FleetFigures:
    began = time.perf_counter()
    cfg = SimConfig(clusters=clusters, nodes=nodes, kubelet_delay=0.2)
    with SimProcess(cfg, out) as sim:
        startup = time.perf_counter() - began
        list_s = warm_lists(sim.clusters)
        rss, peak = rss_mib(sim.pid)
        figures = FleetFigures(clusters, nodes, round(startup, 2), round(rss, 1), round(peak, 1),
                               round(list_s, 2))  # fmt: skip
        if pods_per_node:
            figures.pods_running_s = round(run_pods(sim.clusters, pods_per_node), 2)
            figures.pods = clusters * nodes * pods_per_node
            with_pods, peak_with_pods = rss_mib(sim.pid)
            figures.rss_with_pods_mib = round(with_pods, 1)
            figures.peak_rss_with_pods_mib = round(peak_with_pods, 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=3000, help="pods to create, then get")
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--quick", action="store_true", help="small fleets (smoke test)")
    parser.add_argument(
        "--pods-per-node", type=int, default=1, help="Running pods per node in the fleet runs"
    )
    args = parser.parse_args()
    shapes = [(2, 500), (4, 100)] if args.quick else [(10, 5000), (100, 1000)]
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="kubesim-bench-") as tmp:
        root = Path(tmp)
        api = api_throughput(args.pods, args.procs, root / "api")
        print(f"pods: {api['creates_per_s']:.0f} creates/s, {api['gets_per_s']:.0f} gets/s "
              f"({args.pods} pods, {args.procs} client processes); "
              f"list of {args.pods} pods {api['list_pods_s']:.2f}s; simulator CPU per create "
              f"{api['server_cpu_us_per_create']:.0f} us (control plane included), per get "
              f"{api['server_cpu_us_per_get']:.0f} us; official client CPU per create "
              f"{api['client_cpu_us_per_create']:.0f} us, per get "
              f"{api['client_cpu_us_per_get']:.0f} us")  # fmt: skip
        results.update({k: round(v, 2) for k, v in api.items()})
        for clusters, nodes in shapes:
            figures = fleet_figures(
                clusters, nodes, root / f"fleet-{clusters}x{nodes}", args.pods_per_node
            )
            print(f"fleet {clusters} x {nodes} nodes: started in {figures.startup_s}s, "
                  f"RSS {figures.rss_mib} MiB (peak {figures.peak_rss_mib} MiB, goal "
                  f"<= {RSS_GOAL_MIB}), full node lists in {figures.node_list_s}s")  # fmt: skip
            if figures.pods:
                print(f"  + {figures.pods} Running pods in {figures.pods_running_s}s: RSS "
                      f"{figures.rss_with_pods_mib} MiB (peak "
                      f"{figures.peak_rss_with_pods_mib} MiB)")  # fmt: skip
            results[f"fleet_{clusters}x{nodes}"] = asdict(figures)
    results["rss_goal_mib"] = RSS_GOAL_MIB
    results["rss_within_goal"] = all(
        max(f["peak_rss_mib"], f["peak_rss_with_pods_mib"]) <= RSS_GOAL_MIB  # type: ignore[index]
        for k, f in results.items()
        if k.startswith("fleet_")
    )
    results["pods"] = args.pods
    results["client_procs"] = args.procs
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
