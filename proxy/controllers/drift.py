"""The leader checks settled workloads against their clusters, a slice at a time.

Once a workload is Ready the binder stops following it, so a Deployment deleted or rescaled
by hand in a member cluster, or one whose pods stopped being ready, would go unnoticed, and
the record would go on saying Ready. Every settled workload is checked once per
`proxy.drift_check_period_s`, spread over that period in slices (one per binder period): a
large fleet sends its workers a steady trickle of status calls, which share Batch RPCs per
cluster, rather than a burst. A part that drifted is reported through the writer, which
unsettles the workload, and the binder applies it again as after any placement: KubeFed and
Karmada put drifted member objects back alike.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping

import grpc

from fed.v1 import types_pb2
from proxy.binder import Binder, unsettled
from proxy.errors import ApiError

_log = logging.getLogger(__name__)

Key = tuple[str, str]


class DriftPacer:
    """Which settled workloads to check at each tick, so that each is checked once per
    period: a round takes the settled workloads as they are when it starts, and spreads
    them evenly over the period's ticks."""

    def __init__(self, period_s: float, tick_s: float) -> None:
        self._ticks = max(1, math.ceil(period_s / tick_s))
        self._round: list[Key] = []
        self._tick = 0
        self._taken = 0

    def next_slice(self, workloads: Mapping[Key, types_pb2.Workload]) -> list[Key]:
        """The keys to check at this tick; a new round starts once the last has had all
        of its ticks."""
        if self._tick == self._ticks:
            self._tick = 0
        if self._tick == 0:
            self._round = [key for key, workload in workloads.items() if not unsettled(workload)]
            self._taken = 0
        self._tick += 1
        end = math.ceil(len(self._round) * self._tick / self._ticks)
        taken = self._round[self._taken : end]
        self._taken = end
        return taken


class DriftCheck:
    def __init__(
        self,
        binder: Binder,
        workloads: Mapping[Key, types_pb2.Workload],
        period_s: float,
        tick_s: float,
        parallelism: int,
    ) -> None:
        self._binder = binder
        self._workloads = workloads
        self._pacer = DriftPacer(period_s, tick_s)
        self._tick_s = tick_s
        self._limit = asyncio.Semaphore(max(1, parallelism))

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            keys = self._pacer.next_slice(self._workloads)
            await asyncio.gather(*(self._check(key) for key in keys))

    async def _check(self, key: Key) -> None:
        async with self._limit:
            try:
                await self._binder.check_drift(key)
            except (ApiError, grpc.aio.AioRpcError) as exc:  # the writer refused the report
                _log.warning(
                    "drift report not written", extra={"workload": "/".join(key), "err": str(exc)}
                )
