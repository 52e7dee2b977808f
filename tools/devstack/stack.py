"""The whole federation on one machine: etcd, kubesim, workers and proxies as processes.

`up` starts everything on free loopback ports with logs under the stack's directory,
registers the emulated clusters through the API, waits until every cluster is Ready and
writes `stack.json`. A detached stack (the default, for `fedctl dev up`) outlives the
command that started it; `down` stops it from `stack.json` and leaves no process behind.
An attached stack (tests, the demo) dies with the process that started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from client import FederationClient, FederationError
from common.etcd_launcher import EmbeddedEtcd, die_with_parent
from common.etcd_store import EtcdStore
from common.keys import Keys
from common.settings import CommonSettings, EtcdSettings, SettingsError, load_settings
from fed.v1 import types_pb2

STACK_FILE = "stack.json"
# The one-machine stack shows the whole story: a cluster killed with kubesim's fault
# injection fails over by itself (a later --proxy-set can turn it off).
ONE_MACHINE_PROXY_DEFAULTS = ["failover.auto=true"]
_READY_TIMEOUT_S = 120.0
_KILL_WAIT_S = 5.0


class StackError(RuntimeError):
    """The stack could not be brought up, found or brought down."""


@dataclass
class StackConfig:
    dir: Path
    clusters: int = 3
    nodes: int = 100
    node_cpu: str = "32"
    node_memory: str = "128Gi"
    proxies: int = 3
    workers: int = 4
    regions: tuple[str, ...] = ("r1", "r2", "r3")
    zones_per_region: int = 2
    attached: bool = False
    settings: list[str] = field(default_factory=list)  # --set for proxies, workers and etcd
    proxy_settings: list[str] = field(default_factory=list)  # --set for proxies only
    worker_settings: list[str] = field(default_factory=list)  # --set for workers only
    progress: Callable[[str], None] = field(default=lambda _: None, repr=False)


@dataclass
class Member:
    name: str
    pid: int
    address: str = ""
    log: str = ""


@dataclass
class StackInfo:
    dir: str
    etcd_endpoint: str
    etcd: Member
    kubesim: Member
    clusters: list[dict[str, Any]]
    proxies: list[Member]
    workers: list[Member]

    @property
    def proxy_addresses(self) -> list[str]:
        return [proxy.address for proxy in self.proxies]

    def members(self) -> list[Member]:
        return [*self.proxies, *self.workers, self.kubesim, self.etcd]

    def save(self) -> Path:
        path = Path(self.dir) / STACK_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2) + "\n")
        temporary.replace(path)
        return path

    @classmethod
    def load(cls, directory: Path) -> StackInfo:
        path = directory / STACK_FILE
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise StackError(f"no stack in {directory} ({error})") from error
        return cls(
            dir=raw["dir"],
            etcd_endpoint=raw["etcd_endpoint"],
            etcd=Member(**raw["etcd"]),
            kubesim=Member(**raw["kubesim"]),
            clusters=raw["clusters"],
            proxies=[Member(**m) for m in raw["proxies"]],
            workers=[Member(**m) for m in raw["workers"]],
        )


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.dir = config.dir.resolve()
        self.logs = self.dir / "logs"
        self._children: list[subprocess.Popen[bytes]] = []
        self._etcd: EmbeddedEtcd | None = None

    def up(self) -> StackInfo:
        """Start everything and wait for every cluster to be Ready; stops what it started
        if anything fails."""
        self.logs.mkdir(parents=True, exist_ok=True)
        try:
            info = self._start()
            asyncio.run(self._register_and_wait(info))
        except BaseException:
            self.stop_started()
            raise
        info.save()
        return info

    def _start(self) -> StackInfo:
        say = self.config.progress
        etcd = self.start_etcd()
        say(f"etcd {etcd.endpoint} (pid {etcd.pid})")
        kubesim, clusters = self._start_kubesim()
        say(f"kubesim: {len(clusters)} clusters x {self.config.nodes} nodes (pid {kubesim.pid})")
        workers = self._start_services("worker", self.config.workers, etcd.endpoint)
        proxies = self._start_services("proxy", self.config.proxies, etcd.endpoint)
        say(f"{len(workers)} workers and {len(proxies)} proxies started")
        return StackInfo(
            dir=str(self.dir),
            etcd_endpoint=etcd.endpoint,
            etcd=Member("etcd", etcd.pid, etcd.endpoint, str(self.dir / "etcd" / "etcd.log")),
            kubesim=kubesim,
            clusters=clusters,
            proxies=proxies,
            workers=workers,
        )

    def start_etcd(self) -> EmbeddedEtcd:
        """The stack's etcd, run with the etcd settings that every service gets."""
        self._etcd = EmbeddedEtcd.from_settings(self.etcd_settings(), attached=self.config.attached)
        return self._etcd.start()

    def etcd_settings(self) -> EtcdSettings:
        """The etcd section of the settings every service gets: the stack's etcd must accept
        what they send (a proxy chunks its transactions at etcd.max_txn_ops)."""
        try:
            settings = load_settings(CommonSettings, overrides=self.config.settings).etcd
        except SettingsError as error:
            raise StackError(f"bad --set: {error}") from error
        settings.data_dir = str(self.dir / "etcd")
        return settings

    def _start_kubesim(self) -> tuple[Member, list[dict[str, Any]]]:
        out = self.dir / "kubesim"
        out.mkdir(parents=True, exist_ok=True)
        ready_file = out / "clusters.json"
        ready_file.unlink(missing_ok=True)
        config = self.config
        args = [
            "--clusters", str(config.clusters), "--nodes", str(config.nodes),
            "--node-cpu", config.node_cpu, "--node-memory", config.node_memory,
            "--regions", ",".join(config.regions),
            "--zones-per-region", str(config.zones_per_region),
            "--out", str(out), "--log-level", "WARNING",
        ]  # fmt: skip
        if config.attached:
            args += ["--die-with-parent", str(os.getpid())]
        process = self._spawn("kubesim", "tools.kubesim", args)
        _wait_for(ready_file.exists, "kubesim to serve its clusters", process)
        clusters: list[dict[str, Any]] = json.loads(ready_file.read_text())["clusters"]
        return Member("kubesim", process.pid, log=str(self.logs / "kubesim.log")), clusters

    def _start_services(self, kind: str, count: int, etcd_endpoint: str) -> list[Member]:
        return [self._start_service(kind, index, etcd_endpoint) for index in range(1, count + 1)]

    def _start_service(self, kind: str, index: int, etcd_endpoint: str) -> Member:
        """Start a proxy or worker on a port of its own choosing (it registers the address
        in etcd, where `_discover` finds it): no port is picked here and then lost to a race."""
        name = f"{kind}-{index}"
        args = ["--etcd", etcd_endpoint, "--listen", "127.0.0.1:0", "--id", name]
        own = (
            [*ONE_MACHINE_PROXY_DEFAULTS, *self.config.proxy_settings]
            if kind == "proxy"
            else self.config.worker_settings
        )
        for setting in [*self.config.settings, *own]:
            args += ["--set", setting]
        process = self._spawn(name, kind, args)
        return Member(name, process.pid, "", str(self.logs / f"{name}.log"))

    def _spawn(self, name: str, module: str, args: list[str]) -> subprocess.Popen[bytes]:
        log: IO[bytes] = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent if self.config.attached else None,  # noqa: PLW1509
            start_new_session=not self.config.attached,
        )
        log.close()
        self._children.append(process)
        return process

    async def _discover(self, info: StackInfo) -> None:
        """Fill in every proxy's and worker's address from its registration in etcd."""
        keys = Keys(_prefix(self.config.settings))
        wanted = {m.name: m for m in [*info.proxies, *info.workers]}
        deadline = time.monotonic() + _READY_TIMEOUT_S
        async with EtcdStore([info.etcd_endpoint]) as store:
            while any(not member.address for member in wanted.values()):
                self._check_children()
                if time.monotonic() > deadline:
                    raise StackError("proxies and workers did not register in time")
                for prefix in (keys.proxies_prefix(), keys.workers_prefix()):
                    for kv in (await store.range(prefix)).kvs:
                        record = types_pb2.MemberRecord.FromString(kv.value)
                        if record.id in wanted:
                            wanted[record.id].address = record.address
                await asyncio.sleep(0.05)

    async def _register_and_wait(self, info: StackInfo) -> None:
        say = self.config.progress
        await self._discover(info)
        async with FederationClient(info.proxy_addresses, retry_deadline_s=60) as fed:
            topology = await self._eventually(fed.topology, lambda t: bool(t.leader.member.address))
            say(f"leader: {topology.leader.member.id}")
            for cluster in info.clusters:
                await fed.register_cluster(_cluster_spec(cluster), f"devstack-{cluster['name']}")
            say(f"registered {len(info.clusters)} clusters; waiting for them to be Ready")
            await self._eventually(
                fed.list_clusters, lambda infos: _all_ready(infos, info.clusters)
            )
            say("every cluster is Ready")

    async def _eventually(self, fetch: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
        """Poll `fetch` until `done` holds (there is no event to await across processes);
        fails at once, naming its log, when a process of the stack has exited."""
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while True:
            self._check_children()
            with contextlib.suppress(FederationError):
                value = await fetch()
                if done(value):
                    return value
            if time.monotonic() > deadline:
                raise StackError(f"the stack did not come up within {_READY_TIMEOUT_S:.0f} s")
            await asyncio.sleep(0.2)

    def _check_children(self) -> None:
        for process in self._children:
            if process.poll() is not None:
                log = self.logs / f"{_name_of(process)}.log"
                raise StackError(f"{_name_of(process)} exited with {process.returncode}; see {log}")

    def stop_started(self) -> None:
        """Stop what this Stack object started (used when `up` fails half way)."""
        for process in reversed(self._children):
            _terminate(process.pid)
        for process in self._children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
        if self._etcd is not None:
            self._etcd.stop()


def down(directory: Path, timeout_s: float = 15.0) -> list[Member]:
    """Stop every process of the stack in `directory`; returns the members it stopped.

    In dependency order: proxies and workers first (they resign and deregister through
    etcd), then kubesim, then etcd. Whatever ignores SIGTERM gets SIGKILL.
    """
    info = StackInfo.load(directory)
    for group in ([*info.proxies, *info.workers], [info.kubesim], [info.etcd]):
        _stop(group, timeout_s)
    (directory / STACK_FILE).unlink(missing_ok=True)
    return info.members()


def _stop(members: list[Member], timeout_s: float) -> None:
    for member in members:
        _terminate(member.pid)
    if _wait_gone(members, timeout_s):
        return
    for member in members:
        if alive(member.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(member.pid, signal.SIGKILL)
    _wait_gone(members, _KILL_WAIT_S)


def _wait_gone(members: list[Member], timeout_s: float) -> bool:
    """Poll /proc (the processes are not our children) until they are gone."""
    deadline = time.monotonic() + timeout_s
    while any(alive(m.pid) for m in members):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie child counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _terminate(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)


def _wait_for(ready: Callable[[], bool], what: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while not ready():
        if process.poll() is not None:
            raise StackError(f"gave up waiting for {what}: it exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise StackError(f"gave up waiting for {what} after {_READY_TIMEOUT_S:.0f} s")
        time.sleep(0.05)


def _prefix(settings: list[str]) -> str:
    """The etcd prefix the stack's processes were told to use (default /fed)."""
    for setting in settings:
        key, _, value = setting.partition("=")
        if key.strip() == "etcd.prefix":
            return value.strip()
    return Keys().prefix


def _name_of(process: subprocess.Popen[bytes]) -> str:
    args = [str(a) for a in process.args]  # type: ignore[union-attr]
    if "--id" in args:
        return args[args.index("--id") + 1]
    return "kubesim"


def _all_ready(infos: list[Any], clusters: list[dict[str, Any]]) -> bool:
    ready = {i.spec.name for i in infos if i.health.health == types_pb2.CLUSTER_HEALTH_READY}
    return ready >= {cluster["name"] for cluster in clusters}


def _cluster_spec(cluster: dict[str, Any]) -> types_pb2.ClusterSpec:
    return types_pb2.ClusterSpec(
        name=cluster["name"],
        kubeconfig=Path(cluster["kubeconfig"]).read_text(),
        region=cluster.get("region", ""),
        zone=cluster.get("zone", ""),
    )
