"""One simulated cluster: store, API server, control plane and fault state."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from common.cancellation import cancel_and_wait
from tools.kubesim.config import ClusterSpec, SimConfig
from tools.kubesim.deployments import DeploymentController
from tools.kubesim.events import EventRecorder
from tools.kubesim.faults import Fault, FaultState
from tools.kubesim.kubelet import Kubelet
from tools.kubesim.lifecycle import GarbageCollector, NamespaceController
from tools.kubesim.nodes import NodeFactory, node_ready, with_readiness
from tools.kubesim.registry import Registry
from tools.kubesim.replicasets import ReplicaSetController
from tools.kubesim.resources import NAMESPACES, NODES
from tools.kubesim.scheduler import Scheduler
from tools.kubesim.server import ApiServer
from tools.kubesim.store import Store
from tools.kubesim.usage import UsageModel, stable_unit
from tools.kubesim.watch import WatchHub

log = logging.getLogger(__name__)
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class ClusterSim:
    """A cluster: its REST API on a loopback port and its in-process control plane."""

    def __init__(self, spec: ClusterSpec, config: SimConfig) -> None:
        self.spec = spec
        self.config = config
        self.store = Store(config.history_size)
        self.registry = Registry(self.store)
        self.hub = WatchHub(self.store)
        self.faults = FaultState()
        self.events = EventRecorder(self.registry, config.max_events)
        self.scheduler = Scheduler(self.registry, self.events)
        self.kubelet = Kubelet(self.registry, config.kubelet_delay, config.termination_delay)
        self.replicasets = ReplicaSetController(self.registry)
        self.deployments = DeploymentController(self.registry, self.events, self.replicasets)
        self.gc = GarbageCollector(self.registry)
        self.namespaces = NamespaceController(self.registry)
        self.usage = UsageModel(self.registry, self.scheduler.pods_on, config.seed)
        self.server = ApiServer(
            self.registry,
            self.hub,
            self.faults,
            self.usage,
            config.bookmark_interval,
            config.watch_timeout,
        )
        self._loop_task: asyncio.Task[None] | None = None
        self._populate()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def url(self) -> str:
        return self.server.url

    def _populate(self) -> None:
        for ns in SYSTEM_NAMESPACES:
            self.registry.create(NAMESPACES, None, {"metadata": {"name": ns}})
        factory = NodeFactory(self.config, self.spec)
        for index in range(self.spec.nodes):
            self.store.commit(NODES.plural, factory.name(index), factory.build(index))

    async def start(self) -> None:
        await self.server.start()
        if self.config.controllers:
            self._loop_task = asyncio.create_task(self._control_loop(), name=f"kubesim-{self.name}")

    async def stop(self) -> None:
        if self._loop_task is not None:
            await cancel_and_wait(self._loop_task)
            self._loop_task = None
        await self.server.stop()

    def tick(self) -> int:
        """One bounded round of every controller; returns the work done."""
        budget = self.config.tick_budget
        return (
            self.scheduler.step(budget)
            + self.kubelet.step(budget)
            + self.deployments.step(budget)
            + self.replicasets.step(budget)
            + self.gc.step(budget)
            + self.namespaces.step(budget)
        )

    async def _control_loop(self) -> None:
        """Small batches, yielding to the API server between them; idle ticks sleep."""
        while True:
            try:
                busy = self.tick()
            except Exception:
                log.exception("kubesim %s: controller tick failed", self.name)
                busy = 0
            await asyncio.sleep(0 if busy else self.config.tick)

    async def apply_fault(self, fault: Fault) -> dict[str, Any]:
        """Apply one fault command and return the resulting fault state."""
        if fault.name == "down":
            self.faults.down = True
            await self.server.stop()
        elif fault.name == "up":
            self.faults.down = False
            if not self.server.running:
                await self.server.start(self.server.port)
        elif fault.name == "latency":
            self.faults.latency = fault.value
        elif fault.name == "error-rate":
            self.faults.error_rate = fault.value
        elif fault.name == "drop-watches":
            self.hub.close_all(abort=True)
        elif fault.name == "nodes-notready":
            self.set_notready(fault.value)
        elif fault.name == "forbid-creates":
            self.faults.forbid_creates = True
        elif fault.name == "clear":
            self.faults.latency = self.faults.error_rate = 0.0
            self.faults.forbid_creates = False
            self.set_notready(0.0)
        return self.describe()

    def set_notready(self, fraction: float) -> None:
        """Make `fraction` of the nodes NotReady (a stable choice), and the others Ready."""
        self.faults.notready_fraction = fraction
        table = self.store.table(NODES.plural)
        names = sorted(table.sorted_keys(), key=lambda n: stable_unit(f"notready:{n}"))
        broken = set(names[: math.ceil(len(names) * fraction)]) if fraction else set()
        for name in names:
            entry = table.entries[name]
            want = name not in broken
            if node_ready(entry.obj) == want:
                continue
            updated = self.registry.write(NODES, entry, with_readiness(entry.obj, want))
            reason = "NodeReady" if want else "NodeNotReady"
            message = f"Node {name} status is now: {reason}"
            self.events.record(updated, "Normal", reason, message, "node-controller")
            self.kubelet.set_pods_ready(name, self.scheduler.pods_on(name), want)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "region": self.spec.region,
            "zone": self.spec.zone,
            "nodes": self.store.count(NODES.plural),
            "faults": self.faults.describe(),
        }
