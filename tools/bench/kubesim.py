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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config

from tools.kubesim import SimConfig, SimProcess

RSS_GOAL_MIB = 4096


@dataclass
class FleetFigures:
    clusters: int
    nodes_per_cluster: int
    startup_s: float
    rss_mib: float
    peak_rss_mib: float
    node_list_s: float


def rss_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of `pid` in MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


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
    core = client.CoreV1Api(config.new_client_from_config(kubeconfig))
    core.list_namespaced_pod("default", limit=1)
    start.wait()
    began = time.time()
    for name in names:
        core.create_namespaced_pod("default", pod(name))
    created = time.time()
    start.wait()
    got_from = time.time()
    for name in names:
        core.read_namespaced_pod(name, "default")
    results.put((began, created, got_from, time.time()))


def api_throughput(pods: int, procs: int, out: Path) -> dict[str, float]:
    """Creates/s and gets/s of `procs` client processes against one cluster, control plane on."""
    ctx = multiprocessing.get_context("spawn")
    cfg = SimConfig(clusters=1, nodes=100, kubelet_delay=0.2)
    with SimProcess(cfg, out) as sim:
        kubeconfig = sim.clusters[0]["kubeconfig"]
        barrier, results = ctx.Barrier(procs), ctx.Queue()
        shares = [[f"bench-{i}" for i in range(p, pods, procs)] for p in range(procs)]
        workers = [
            ctx.Process(target=_client_worker, args=(kubeconfig, share, barrier, results))
            for share in shares
        ]
        for worker in workers:
            worker.start()
        spans = [results.get(timeout=300) for _ in workers]
        for worker in workers:
            worker.join(30)
        core = client.CoreV1Api(config.new_client_from_config(kubeconfig))
        began = time.perf_counter()
        listed = len(core.list_namespaced_pod("default").items)
        list_s = time.perf_counter() - began
    if listed != pods:
        raise RuntimeError(f"expected {pods} pods, listed {listed}")
    create_s = max(s[1] for s in spans) - min(s[0] for s in spans)
    get_s = max(s[3] for s in spans) - min(s[2] for s in spans)
    return {"creates_per_s": pods / create_s, "gets_per_s": pods / get_s, "list_pods_s": list_s}


def warm_lists(clusters: list[dict[str, object]]) -> float:
    """GET every cluster's full node list (raw HTTP), so cached JSON counts in RSS."""
    began = time.perf_counter()
    for cluster in clusters:
        with urllib.request.urlopen(f"{cluster['url']}/api/v1/nodes", timeout=120) as response:
            doc = json.loads(response.read())
        assert len(doc["items"]) == cluster["nodes"]
    return time.perf_counter() - began


def fleet_figures(clusters: int, nodes: int, out: Path) -> FleetFigures:
    began = time.perf_counter()
    with SimProcess(SimConfig(clusters=clusters, nodes=nodes), out) as sim:
        startup = time.perf_counter() - began
        list_s = warm_lists(sim.clusters)
        rss, peak = rss_mib(sim.pid)
    return FleetFigures(clusters, nodes, round(startup, 2), round(rss, 1), round(peak, 1),
                        round(list_s, 2))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=3000, help="pods to create, then get")
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--quick", action="store_true", help="small fleets (smoke test)")
    args = parser.parse_args()
    shapes = [(2, 500), (4, 100)] if args.quick else [(10, 5000), (100, 1000)]
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="kubesim-bench-") as tmp:
        root = Path(tmp)
        api = api_throughput(args.pods, args.procs, root / "api")
        print(f"pods: {api['creates_per_s']:.0f} creates/s, {api['gets_per_s']:.0f} gets/s "
              f"({args.pods} pods, {args.procs} client processes); "
              f"list of {args.pods} pods {api['list_pods_s']:.2f}s")  # fmt: skip
        results.update({k: round(v, 2) for k, v in api.items()})
        for clusters, nodes in shapes:
            figures = fleet_figures(clusters, nodes, root / f"fleet-{clusters}x{nodes}")
            print(f"fleet {clusters} x {nodes} nodes: started in {figures.startup_s}s, "
                  f"RSS {figures.rss_mib} MiB (peak {figures.peak_rss_mib} MiB, goal "
                  f"<= {RSS_GOAL_MIB}), full node lists in {figures.node_list_s}s")  # fmt: skip
            results[f"fleet_{clusters}x{nodes}"] = asdict(figures)
    results["rss_goal_mib"] = RSS_GOAL_MIB
    results["rss_within_goal"] = all(
        f["peak_rss_mib"] <= RSS_GOAL_MIB  # type: ignore[index]
        for k, f in results.items()
        if k.startswith("fleet_")
    )
    results["pods"] = args.pods
    results["client_procs"] = args.procs
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
