"""Usage from metrics.k8s.io: the latest per-node sample and the recent peak (p95) of the total."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field

from worker.apistats import percentile
from worker.kube_adapter import KubeAdapter, KubeError
from worker.model import ZERO, Res

_log = logging.getLogger(__name__)


@dataclass
class UsageView:
    served: bool = False
    nodes: dict[str, Res] = field(default_factory=dict)
    total: Res = ZERO
    peak: Res = ZERO


class UsageTracker:
    """Keeps the samples of one cluster; `poll` takes one, `run` polls on a period."""

    def __init__(self, adapter: KubeAdapter, period_s: float, window_s: float) -> None:
        self._adapter = adapter
        self._period_s = period_s
        self._window_s = window_s
        self._totals: deque[tuple[float, Res]] = deque()
        self.view = UsageView()

    async def run(self) -> None:
        while True:
            await self.poll()
            await asyncio.sleep(self._period_s)

    async def poll(self) -> None:
        try:
            nodes = await self._adapter.node_usage()
        except KubeError as exc:
            _log.debug("node metrics unavailable", extra={"err": str(exc)[:200]})
            return
        if nodes is None:
            self.view = UsageView()
            return
        total = ZERO
        for used in nodes.values():
            total = total + used
        self._record(total)
        self.view = UsageView(True, nodes, total, self._peak())

    def _record(self, total: Res) -> None:
        now = time.monotonic()
        self._totals.append((now, total))
        while self._totals and self._totals[0][0] < now - self._window_s:
            self._totals.popleft()

    def _peak(self) -> Res:
        cpus = [float(t.cpu) for _, t in self._totals]
        memories = [float(t.memory) for _, t in self._totals]
        return Res(round(percentile(cpus, 0.95)), round(percentile(memories, 0.95)))
