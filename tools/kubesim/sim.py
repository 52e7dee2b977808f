"""A fleet of simulated clusters in one event loop, usable from async and sync code."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from tools.kubesim.admin import AdminServer
from tools.kubesim.cluster import ClusterSim
from tools.kubesim.config import SimConfig
from tools.kubesim.faults import Fault
from tools.kubesim.kubeconfig import write_kubeconfig

T = TypeVar("T")


class KubeSim:
    """`async with KubeSim(SimConfig(...)) as sim: sim.clusters["c1"].url`."""

    def __init__(self, config: SimConfig, out: Path | None = None) -> None:
        self.config = config
        self.out = out
        self.clusters: dict[str, ClusterSim] = {}
        self.admin = AdminServer(self.describe, self.fault)

    async def start(self) -> None:
        for spec in self.config.cluster_specs():
            cluster = ClusterSim(spec, self.config)
            self.clusters[spec.name] = cluster
            await cluster.start()
            await asyncio.sleep(0)
        await self.admin.start()
        if self.out is not None:
            self.write_files(self.out)

    async def stop(self) -> None:
        await self.admin.stop()
        for cluster in self.clusters.values():
            await cluster.stop()

    async def __aenter__(self) -> KubeSim:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def describe(self) -> list[dict[str, Any]]:
        return [c.describe() for c in self.clusters.values()]

    async def fault(self, cluster: str, fault: Fault) -> dict[str, Any]:
        """Apply `fault` to `cluster` (KeyError when there is no such cluster)."""
        return await self.clusters[cluster].apply_fault(fault)

    def write_files(self, out: Path) -> Path:
        """Write one kubeconfig per cluster and `clusters.json`; returns the latter's path."""
        out.mkdir(parents=True, exist_ok=True)
        entries = []
        for cluster in self.clusters.values():
            path = write_kubeconfig(out, cluster.name, cluster.url)
            info = cluster.describe()
            info.pop("faults")
            entries.append({**info, "kubeconfig": str(path.resolve())})
        doc = {"admin_url": self.admin.url, "clusters": entries}
        target = out / "clusters.json"
        tmp = out / "clusters.json.tmp"
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        tmp.replace(target)
        return target


class SimThread:
    """Runs a KubeSim on its own event loop in a daemon thread, for blocking client code.

    `with SimThread(SimConfig(...)) as sim: sim.url("c1"); sim.fault("c1", "down")`.
    """

    def __init__(self, config: SimConfig, out: Path | None = None) -> None:
        self.sim = KubeSim(config, out)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="kubesim", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run `coro` on the simulator's loop and wait for its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def start(self) -> SimThread:
        self._thread.start()
        self.call(self.sim.start(), timeout=600.0)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self.call(self.sim.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def __enter__(self) -> SimThread:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def clusters(self) -> dict[str, ClusterSim]:
        return self.sim.clusters

    def url(self, cluster: str) -> str:
        return self.sim.clusters[cluster].url

    def fault(self, cluster: str, name: str, arg: str | None = None) -> dict[str, Any]:
        return self.call(self.sim.fault(cluster, Fault.parse(name, arg)))

    def run(self, fn: Any, *args: Any) -> Any:
        """Call the plain function `fn(*args)` on the simulator's loop (to inspect state)."""

        async def wrapper() -> Any:
            return fn(*args)

        return self.call(wrapper())
