"""`make demo`: the federation's main job on one machine, with real output.

It brings up a stack (etcd, kubesim clusters spread over regions and zones, workers,
proxies) attached to this process, places three workloads of different shapes and
policies, shows the fleet's reservations and why one workload went where it did, scales
one, deletes a Deployment in a member cluster by hand and shows the leader putting it back,
SIGKILLs the leader proxy and shows the next leader taking over with every placement
intact, and stops the stack. Options also come from DEMO_<OPTION> environment variables
(e.g. DEMO_NODES=5) so that CI can run a small smoke.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from client import FederationClient, FederationError
from fed.v1 import types_pb2
from tools.devstack.narrator import Narrator
from tools.devstack.stack import Stack, StackConfig, StackInfo, alive, down
from tools.kubesim.control import kube_call

T = TypeVar("T")
STEPS = 11
SETTINGS = ["election.ttl_s=3", "election.safety_margin_s=1", "observability.log_level=WARNING"]
PROXY_SETTINGS = ["proxy.bind_period_s=0.3", "proxy.drift_check_period_s=2"]
WORKER_SETTINGS = ["worker.status_period_s=1"]
_WAIT_S = 90.0
Placements = dict[str, dict[str, int]]


@click.command(context_settings={"auto_envvar_prefix": "DEMO"})
@click.option("--clusters", type=click.IntRange(min=3), default=4, show_default=True)
@click.option("--nodes", type=click.IntRange(min=3), default=60, show_default=True)
@click.option("--node-cpu", default="32", show_default=True)
@click.option("--node-memory", default="128Gi", show_default=True)
@click.option("--proxies", type=click.IntRange(min=2), default=3, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=3, show_default=True)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="DEMO_DIR",
    help="Where the stack keeps its state and logs (default: a temporary directory).",
)
def main(
    clusters: int,
    nodes: int,
    node_cpu: str,
    node_memory: str,
    proxies: int,
    workers: int,
    directory: Path | None,
) -> None:
    """Tell the federation's story on a stack of its own, then stop it."""
    narrator = Narrator(steps=STEPS)
    workdir = directory or Path(tempfile.mkdtemp(prefix="fed-demo-"))
    narrator.step(f"starting the stack in {workdir}: {clusters} clusters x {nodes} nodes")
    config = StackConfig(
        dir=workdir, clusters=clusters, nodes=nodes, node_cpu=node_cpu, node_memory=node_memory,
        proxies=proxies, workers=workers, attached=True, settings=SETTINGS,
        proxy_settings=PROXY_SETTINGS, worker_settings=WORKER_SETTINGS, progress=narrator.say,
    )  # fmt: skip
    info = Stack(config).up()
    narrator.servers = info.proxy_addresses
    try:
        tell(narrator, info, nodes)
    except BaseException:
        narrator.say(f"the demo stopped early; logs are in {workdir / 'logs'}")
        raise
    finally:
        stop(narrator, info)
    if directory is None:
        shutil.rmtree(workdir, ignore_errors=True)
    click.secho(f"\ndemo finished in {narrator.elapsed():.1f} s", bold=True)


def tell(narrator: Narrator, info: StackInfo, nodes: int) -> None:
    narrator.step("the fleet: every cluster Ready, nothing reserved yet")
    narrator.fedctl("cluster", "list")
    place_workloads(narrator, nodes)
    narrator.step("waiting for every replica to run in the emulated clusters")
    narrator.say(f"all Ready after {run(wait_ready(narrator.servers)):.1f} s")
    narrator.fedctl("workload", "list")
    narrator.step("the fleet again: reservations per cluster (allocatable / reserved / used)")
    narrator.fedctl("cluster", "list")
    narrator.step("why did the api land where it did? filters, capacity and scores per cluster")
    narrator.fedctl("workload", "explain", "api", "-n", "shop")
    narrator.step("cordon c2 for maintenance: explain filters it out; what runs there stays")
    narrator.fedctl("cluster", "cordon", "c2", "--reason", "kernel upgrade")
    narrator.fedctl("workload", "explain", "api", "-n", "shop")
    narrator.fedctl("cluster", "uncordon", "c2")
    put_back(narrator, info)
    narrator.step("scaling the web tier from 9 to 15 replicas")
    narrator.fedctl("workload", "scale", "web", "-n", "shop", "--replicas", "15")
    kill_the_leader(narrator, info)


def put_back(narrator: Narrator, info: StackInfo) -> None:
    narrator.step("someone deletes the api's Deployment in a cluster; the leader puts it back")
    placed = run(placements(narrator.servers))["shop/api"]
    cluster = sorted(placed)[0]
    url = next(c["url"] for c in info.clusters if c["name"] == cluster)
    path = "/apis/apps/v1/namespaces/shop/deployments/api"
    deleted = _uid(kube_call(url, "GET", path))
    kube_call(url, "DELETE", path)
    narrator.say(f"deleted Deployment shop/api in {cluster} through its Kubernetes API")
    started = time.monotonic()
    deadline = started + _WAIT_S
    while not _remade(kube_call(url, "GET", path), deleted, placed[cluster]):
        if time.monotonic() > deadline:
            raise click.ClickException(f"gave up after {_WAIT_S:.0f} s")
        time.sleep(0.2)
    narrator.say(
        f"{cluster} runs a new shop/api Deployment of {placed[cluster]} replicas after "
        f"{time.monotonic() - started:.1f} s (the drift check runs every 2 s here, 60 s by default)"
    )
    narrator.say(f"all Ready after {run(wait_ready(narrator.servers)):.1f} s")


def _uid(found: dict[str, object] | None) -> object:
    metadata = (found or {}).get("metadata")
    return metadata.get("uid") if isinstance(metadata, dict) else None


def _remade(found: dict[str, object] | None, deleted: object, replicas: int) -> bool:
    """A Deployment other than the deleted one, with the placement's replicas."""
    spec = (found or {}).get("spec")
    return (
        found is not None
        and _uid(found) != deleted
        and isinstance(spec, dict)
        and spec.get("replicas") == replicas
    )


def place_workloads(narrator: Narrator, nodes: int) -> None:
    narrator.step("placing three workloads with different shapes and policies")
    narrator.say("a web tier spread over every region:")
    narrator.fedctl(
        "workload", "place", "web", "-n", "shop", "--replicas", "9", "--cpu", "500m",
        "--memory", "512Mi", "--image", "nginx:1.27", "--spread", "region",
    )  # fmt: skip
    narrator.say("an API that must run in at least three clusters:")
    narrator.fedctl(
        "workload", "place", "api", "-n", "shop", "--replicas", "6", "--cpu", "1",
        "--memory", "2Gi", "--image", "shop/api:3.2", "--min-clusters", "3",
    )  # fmt: skip
    batch = str(max(8, nodes // 2))
    narrator.say(f"a batch job of {batch} big workers, all or nothing (gang):")
    narrator.fedctl(
        "workload", "place", "train", "-n", "ml", "--replicas", batch, "--cpu", "8",
        "--memory", "32Gi", "--image", "ml/train:1.0", "--gang",
    )  # fmt: skip


def kill_the_leader(narrator: Narrator, info: StackInfo) -> None:
    narrator.step("SIGKILL the leader proxy; the next one takes over, no placement is lost")
    narrator.fedctl("topology")
    before = run(placements(narrator.servers))
    leader = run(leader_id(narrator.servers))
    (victim,) = [proxy for proxy in info.proxies if proxy.name == leader]
    killed_at = time.monotonic()
    os.kill(victim.pid, signal.SIGKILL)
    narrator.say(f"killed {leader} (pid {victim.pid}); waiting for a new leader")
    survivors = [p.address for p in info.proxies if p is not victim]
    successor = run(new_leader(survivors, leader))
    narrator.say(f"{successor} leads after {time.monotonic() - killed_at:.1f} s")
    narrator.servers = survivors
    narrator.fedctl("topology")
    narrator.fedctl("workload", "list")
    after = run(placements(survivors))
    if after != before:
        raise click.ClickException(f"placements changed: {before} -> {after}")
    replicas = sum(sum(p.values()) for p in before.values())
    narrator.say(f"no placement lost: {len(before)} workloads, {replicas} replicas, as before")
    narrator.say("and the new leader takes writes:")
    narrator.fedctl("workload", "scale", "web", "-n", "shop", "--replicas", "12")


def stop(narrator: Narrator, info: StackInfo) -> None:
    narrator.step("stopping the stack")
    members = down(Path(info.dir))
    left = [m.name for m in members if alive(m.pid)]
    narrator.say(f"stopped {len(members)} processes; still running: {', '.join(left) or 'none'}")


def run(awaitable: Awaitable[T]) -> T:
    async def wrapped() -> T:
        return await awaitable

    return asyncio.run(wrapped())


async def eventually(
    servers: list[str], fetch: Callable[[FederationClient], Awaitable[T]], done: Callable[[T], bool]
) -> T:
    """Poll the federation until `done` holds (other processes change it; no event to await)."""
    deadline = time.monotonic() + _WAIT_S
    async with FederationClient(servers, timeout_s=2, retry_deadline_s=_WAIT_S) as fed:
        while True:
            try:
                value = await fetch(fed)
                if done(value):
                    return value
            except FederationError:
                pass
            if time.monotonic() > deadline:
                raise click.ClickException(f"gave up after {_WAIT_S:.0f} s")
            await asyncio.sleep(0.2)


async def wait_ready(servers: list[str]) -> float:
    started = time.monotonic()
    ready = types_pb2.WORKLOAD_PHASE_READY
    await eventually(
        servers,
        lambda fed: fed.list_workloads(),
        lambda found: all(w.phase == ready for w in found),
    )
    return time.monotonic() - started


async def placements(servers: list[str]) -> Placements:
    async with FederationClient(servers) as fed:
        return {
            f"{w.spec.namespace}/{w.spec.name}": {
                p.cluster: p.replicas for p in w.placement.clusters if p.replicas
            }
            for w in await fed.list_workloads()
        }


async def leader_id(servers: list[str]) -> str:
    async with FederationClient(servers) as fed:
        return (await fed.topology()).leader.member.id


async def new_leader(servers: list[str], old: str) -> str:
    topology = await eventually(
        servers,
        lambda fed: fed.topology(),
        lambda found: found.leader.member.id not in ("", old),
    )
    return topology.leader.member.id


if __name__ == "__main__":
    main()
