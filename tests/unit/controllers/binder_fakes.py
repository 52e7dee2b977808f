"""Fakes of what the binder works with: the cache's subscriptions and the writer."""

from __future__ import annotations

import asyncio
from typing import Any

from common.keys import Keys
from fed.v1 import types_pb2
from proxy.binder import Binder
from proxy.cache import Change

KEYS = Keys("/fed")


class FakeCache:
    keys = KEYS

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Change] = asyncio.Queue()
        self.prefixes: tuple[str, ...] = ()

    def subscribe(self, *prefixes: str) -> asyncio.Queue[Change]:
        self.prefixes = prefixes
        return self.queue

    def publish(self, change: Change) -> None:
        """As FedCache does: only to a subscriber of the key's prefix."""
        if not self.prefixes or change.key.startswith(self.prefixes):
            self.queue.put_nowait(change)

    def unsubscribe(self, queue: asyncio.Queue[Change]) -> None:
        assert queue is self.queue


class FakeWriter:
    def __init__(self, workload: types_pb2.Workload) -> None:
        self.workloads = {(workload.spec.namespace, workload.spec.name): workload}
        self.reports: list[Any] = []

    async def submit(self, item: Any) -> Any:
        self.reports.append(item)
        return types_pb2.Workload()


def fake_binder(
    writer: FakeWriter, router: Any, cache: FakeCache | None = None, period_s: float = 60.0
) -> Binder:
    """A binder over fakes (epoch 1)."""
    return Binder(
        writer,  # type: ignore[arg-type]
        router,
        cache or FakeCache(),  # type: ignore[arg-type]
        epoch=1,
        period_s=period_s,
    )
