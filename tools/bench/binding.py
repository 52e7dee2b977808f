"""Binding: placements through the whole stack until every replica is Ready, and what it costs.

Brings up etcd, kubesim (5 clusters of 20 nodes), 3 workers and 3 proxies, places N
workloads of 2 replicas (100 at a time, as a PaaS component would), and waits until all are
Ready. Prints the time to place and the time until all are Ready, the CPU each process spent
per workload over the whole run (the leader's is what a fleet cannot scale out: workers and
followers can be added), and the calls the workers answered: Apply and GetWorkloadStatus
items, and the RPCs that carried them. With `--drift-period-s P`, the proxies check every
Ready workload against its clusters once per P seconds (proxy.drift_check_period_s), and once
all are Ready the run goes on for two more periods to measure what those checks cost: CPU per
check of the leader, the workers and kubesim, and the status items and Batch RPCs they took.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from client import FederationClient
from fed.v1 import federation_pb2
from tools.bench.failover import place_until_ready
from tools.bench.placement import metric_samples
from tools.bench.proc import cpu_seconds
from tools.devstack.stack import Member, Stack, StackConfig, StackInfo, down


def worker_calls(metrics_address: str) -> dict[str, float]:
    """Calls a worker answered, by method (a Batch RPC and each item inside it count apart)."""
    with urllib.request.urlopen(f"http://{metrics_address}/metrics", timeout=5) as response:
        text = response.read().decode()
    calls: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "fed_worker_rpc_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_count"):
                method = sample.labels["method"]
                calls[method] = calls.get(method, 0.0) + sample.value
    return calls


def cpu_per_workload(
    members: list[Member], before: dict[str, float], workloads: int
) -> dict[str, float]:
    return {m.name: round((cpu_seconds(m.pid) - before[m.name]) / workloads * 1e6) for m in members}


def all_worker_calls(metrics_addresses: list[str]) -> dict[str, float]:
    """worker_calls summed over the workers at these metrics addresses."""
    calls: dict[str, float] = {}
    for address in metrics_addresses:
        for method, count in worker_calls(address).items():
            calls[method] = calls.get(method, 0.0) + count
    return calls


def worker_metrics(topology: federation_pb2.Topology) -> list[str]:
    return [worker.member.metrics_address for worker in topology.workers]


def drift_checks(metrics_address: str) -> float:
    """The leader's fed_drift_checks_total."""
    return sum(
        sample.value
        for name, sample in metric_samples(metrics_address)
        if name == "fed_drift_checks" and sample.name.endswith("_total")
    )


async def measure_drift(
    stack: StackInfo, topology: federation_pb2.Topology, leader: str, period_s: float
) -> dict[str, object]:
    """Two drift periods after every workload is Ready: what the checks cost."""
    members = {m.name: m for m in stack.members()}
    watched = [leader, stack.kubesim.name, *(w.name for w in stack.workers)]
    address = topology.leader.member.metrics_address
    cpu_before = {name: cpu_seconds(members[name].pid) for name in watched}
    checks_before = drift_checks(address)
    calls_before = all_worker_calls(worker_metrics(topology))
    await asyncio.sleep(2 * period_s)
    checks = drift_checks(address) - checks_before
    calls = all_worker_calls(worker_metrics(topology))
    spent = {name: cpu_seconds(members[name].pid) - cpu_before[name] for name in watched}

    def per_check(seconds: float) -> float:
        return round(seconds / checks * 1e6) if checks else 0.0

    return {
        "period_s": period_s,
        "checks": int(checks),
        "leader_cpu_us_per_check": per_check(spent[leader]),
        "workers_cpu_us_per_check": per_check(sum(spent[w.name] for w in stack.workers)),
        "kubesim_cpu_us_per_check": per_check(spent[stack.kubesim.name]),
        "status_items": int(
            calls.get("GetWorkloadStatus", 0) - calls_before.get("GetWorkloadStatus", 0)
        ),
        "batches": int(calls.get("Batch", 0) - calls_before.get("Batch", 0)),
    }


async def measure(stack: StackInfo, workloads: int, drift_period_s: float) -> dict[str, object]:
    members = stack.members()
    async with FederationClient(stack.proxy_addresses, timeout_s=30) as fed:
        topology = await fed.call("GetTopology", federation_pb2.GetTopologyRequest())
        leader = next(p.name for p in stack.proxies if p.address == topology.leader.member.address)
        before = {m.name: cpu_seconds(m.pid) for m in members}
        placed_s, ready_s = await place_until_ready(fed, workloads)
        cpu = cpu_per_workload(members, before, workloads)
        calls = all_worker_calls(worker_metrics(topology))
    drift = await measure_drift(stack, topology, leader, drift_period_s) if drift_period_s else {}
    return {
        "workloads": workloads,
        "place_s": round(placed_s, 2),
        "all_ready_s": round(ready_s, 2),
        "leader_cpu_us_per_workload": cpu[leader],
        "followers_cpu_us_per_workload": sum(
            cpu[p.name] for p in stack.proxies if p.name != leader
        ),
        "workers_cpu_us_per_workload": sum(cpu[w.name] for w in stack.workers),
        "kubesim_cpu_us_per_workload": cpu[stack.kubesim.name],
        "etcd_cpu_us_per_workload": cpu[stack.etcd.name],
        "worker_calls": {method: int(count) for method, count in sorted(calls.items())},
        "drift": drift,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workloads", type=int, default=1000)
    parser.add_argument("--drift-period-s", type=float, default=0.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fed-binding-") as directory:
        config = StackConfig(
            dir=Path(directory), clusters=5, nodes=20, proxies=3, workers=3, attached=True,
            settings=["observability.log_level=WARNING"],
            proxy_settings=[f"proxy.drift_check_period_s={args.drift_period_s}"],
        )  # fmt: skip
        stack = Stack(config).up()
        try:
            results = asyncio.run(measure(stack, args.workloads, args.drift_period_s))
        finally:
            down(Path(stack.dir))
    print(f"placed {results['workloads']} workloads in {results['place_s']} s, "
          f"all Ready after {results['all_ready_s']} s")  # fmt: skip
    print(f"CPU per workload: leader {results['leader_cpu_us_per_workload']} us, "
          f"workers {results['workers_cpu_us_per_workload']} us; "
          f"worker calls {results['worker_calls']}")  # fmt: skip
    print(json.dumps(results))


if __name__ == "__main__":
    main()
