"""Failover RTO: 1,000 workloads over 5 emulated clusters, one cluster killed.

Brings up a whole stack (etcd, kubesim, workers, 3 proxies) with automatic failover on and
the default health settings, places the workloads, waits until all are Ready, then takes
one cluster down with kubesim's fault injection and measures the time until every replica
is Ready elsewhere, detection included. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from client import FederationClient
from fed.v1 import federation_pb2, types_pb2
from tools.devstack.stack import Stack, StackConfig, StackInfo, down
from tools.kubesim.control import set_fault

READY = types_pb2.WORKLOAD_PHASE_READY


def spec(index: int) -> types_pb2.WorkloadSpec:
    return types_pb2.WorkloadSpec(
        namespace="bench",
        name=f"w{index:04d}",
        replicas=2,
        resources=types_pb2.Resources(cpu_millis=100, memory_bytes=64 << 20),
        priority=index % 3,
    )


def on_victim(workload: types_pb2.Workload, victim: str) -> bool:
    return any(p.cluster == victim and p.replicas for p in workload.placement.clusters)


async def wait(fed: FederationClient, done: object, timeout_s: float) -> float:
    """Poll the workload list (across processes there is no event) until `done` holds."""
    started = time.monotonic()
    while not done(await fed.list_workloads("bench")):  # type: ignore[operator]
        if time.monotonic() - started > timeout_s:
            raise TimeoutError("the fleet did not settle in time")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def place_until_ready(fed: FederationClient, workloads: int) -> tuple[float, float]:
    """Place the workloads 100 at a time, as a PaaS component would, then wait until every
    one is Ready: (seconds to place, seconds until all Ready), both from the start."""
    started = time.monotonic()
    for first in range(0, workloads, 100):
        await asyncio.gather(
            *(fed.place(spec(i)) for i in range(first, min(workloads, first + 100)))
        )
    placed_s = time.monotonic() - started
    await wait(fed, lambda ws: all(w.phase == READY for w in ws), 300)
    return placed_s, time.monotonic() - started


async def measure(stack: StackInfo, workloads: int, victim: str) -> dict[str, object]:
    async with FederationClient(stack.proxy_addresses, timeout_s=30) as fed:
        placed_s, ready_s = await place_until_ready(fed, workloads)
        held = sum(
            p.replicas for w in await fed.list_workloads("bench") for p in w.placement.clusters
            if p.cluster == victim
        )  # fmt: skip
        killed_wall = time.time()
        set_fault(Path(stack.dir) / "kubesim", victim, "down")

        def recovered(ws: list[types_pb2.Workload]) -> bool:
            return all(w.phase == READY and not on_victim(w, victim) for w in ws)

        rto = await wait(fed, recovered, 300)
        operations = await fed.call("ListOperations", federation_pb2.ListOperationsRequest())
        detected = [
            op.created_at.ToMicroseconds() / 1e6 for op in operations.operations
            if victim in op.clusters
        ]  # fmt: skip
    return {
        "workloads": workloads,
        "replicas_on_victim": held,
        "place_s": round(placed_s, 2),
        "all_ready_s": round(ready_s, 2),
        "rto_s": round(rto, 2),
        "failover_started_after_s": round(min(detected) - killed_wall, 2) if detected else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workloads", type=int, default=1000)
    parser.add_argument("--clusters", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fed-failover-") as directory:
        config = StackConfig(
            dir=Path(directory), clusters=args.clusters, nodes=args.nodes, proxies=3, workers=3,
            attached=True, settings=["observability.log_level=WARNING"],
            proxy_settings=["failover.auto=true"],
        )  # fmt: skip
        stack = Stack(config).up()
        try:
            results = asyncio.run(measure(stack, args.workloads, "c1"))
        finally:
            down(Path(stack.dir))
    results.update(clusters=args.clusters, nodes_per_cluster=args.nodes)
    print(f"placed {results['workloads']} workloads in {results['place_s']} s, "
          f"all Ready after {results['all_ready_s']} s; "
          f"{results['replicas_on_victim']} replicas on c1")  # fmt: skip
    print(f"c1 down -> failover started after {results['failover_started_after_s']} s; "
          f"every replica Ready elsewhere after {results['rto_s']} s (goal <= 15 s)")  # fmt: skip
    print(json.dumps(results))


if __name__ == "__main__":
    main()
