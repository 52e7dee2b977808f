"""What `fedctl dev status` reports: each process alive or not, and what the API says."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from rich.console import RenderableType
from rich.text import Text

from client import FederationClient, FederationError
from fed.v1 import types_pb2
from tools.devstack.stack import StackInfo, alive
from tools.fedctl.output import table

_PROBE_TIMEOUT_S = 3.0


@dataclass
class MemberHealth:
    name: str
    pid: int
    alive: bool
    address: str


@dataclass
class StackHealth:
    dir: str
    members: list[MemberHealth]
    leader: str = ""
    clusters_ready: list[str] = field(default_factory=list)
    clusters_total: int = 0
    api_error: str = ""

    def problems(self) -> list[str]:
        found = [f"{m.name} (pid {m.pid}) is not running" for m in self.members if not m.alive]
        if self.api_error:
            found.append(f"the API does not answer: {self.api_error}")
        elif not self.leader:
            found.append("no proxy leads")
        if not self.api_error and len(self.clusters_ready) < self.clusters_total:
            found.append(f"{len(self.clusters_ready)}/{self.clusters_total} clusters Ready")
        return found


def probe(info: StackInfo) -> StackHealth:
    members = [MemberHealth(m.name, m.pid, alive(m.pid), m.address) for m in info.members()]
    health = StackHealth(info.dir, members, clusters_total=len(info.clusters))
    try:
        asyncio.run(_ask_api(info, health))
    except FederationError as error:
        health.api_error = f"{error.code.name}: {error.message}"
    return health


async def _ask_api(info: StackInfo, health: StackHealth) -> None:
    async with FederationClient(
        info.proxy_addresses, timeout_s=_PROBE_TIMEOUT_S, retry_deadline_s=_PROBE_TIMEOUT_S
    ) as fed:
        topology = await fed.topology()
        health.leader = topology.leader.member.id
        ready = types_pb2.CLUSTER_HEALTH_READY
        infos = await fed.list_clusters()
        health.clusters_ready = sorted(i.spec.name for i in infos if i.health.health == ready)


def stack_tables(info: StackInfo, health: StackHealth) -> list[RenderableType]:
    processes = table("process", "pid", "running", "address", title=f"Stack in {info.dir}")
    for member in health.members:
        running = "yes" if member.alive else "NO"
        processes.add_row(member.name, str(member.pid), running, member.address or "-")
    if health.api_error:
        api = f"API: unreachable ({health.api_error})"
    else:
        api = (
            f"Leader: {health.leader or '-'}    Clusters Ready: "
            f"{len(health.clusters_ready)}/{health.clusters_total}"
        )
    return [processes, Text(""), Text(api)]
