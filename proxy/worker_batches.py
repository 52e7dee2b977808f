"""The binder's calls to one worker for one cluster, sent together as Batch RPCs.

The binder works on many workloads at once, one part at a time each. Sent alone, every
apply, status check and removal would cost the leader a unary RPC (~200 us of its CPU, the
largest part of binding) and the worker a call of its own. Here the calls that arrive while
the previous batch is on the wire go out together in the next one (proxy.scheduler.batcher).
Batches are kept apart per (worker, cluster): a slow cluster holds up only its own calls.

Each call keeps its own outcome: one that failed raises grpc.aio.AioRpcError with the code
and details its unary call would have had; a batch that failed as a whole fails each of its
calls with that error, so callers fail over to another worker just as they did.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc

from common.status_codes import code_of
from fed.v1 import worker_pb2, worker_pb2_grpc
from proxy.message_size import MESSAGE_BYTES
from proxy.scheduler.batcher import Batcher, Pending, settle

MAX_ITEMS = 256
"""Calls per Batch RPC (a worker takes up to 1,000)."""

IDLE_S = 60.0
"""A (worker, cluster) batcher ends after this long without a call (workers come and go)."""

Item = worker_pb2.BatchItem
Result = worker_pb2.BatchResult
StubOf = Callable[[str], "worker_pb2_grpc.WorkerAsyncStub | None"]
"""The stub of a live worker by its id; None once it left."""


def rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    """The error a unary call that ended with `code` raises."""
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


class WorkerBatches:
    def __init__(
        self, stub_of: StubOf, *, window_s: float, timeout_s: float, idle_s: float = IDLE_S
    ) -> None:
        self._stub_of = stub_of
        self._window_s = window_s
        self._timeout_s = timeout_s
        self._idle_s = idle_s
        self._batchers: dict[tuple[str, str], Batcher[Item, Result]] = {}

    async def call(self, worker: str, cluster: str, item: Item) -> Result:
        """The item's result once its batch is answered (raises AioRpcError if it failed)."""
        key = (worker, cluster)
        batcher = self._batchers.get(key)
        if batcher is None:

            async def send(batch: list[Pending[Item, Result]]) -> None:
                await self._send(worker, batch)

            batcher = Batcher(
                send,
                window_s=self._window_s,
                max_size=MAX_ITEMS,
                idle_s=self._idle_s,
                on_idle=lambda: self._batchers.pop(key, None),
                bytes_of=(_item_bytes, MESSAGE_BYTES),
            )
            batcher.start()
            self._batchers[key] = batcher
        return await batcher.submit(item)

    async def _send(self, worker: str, batch: list[Pending[Item, Result]]) -> None:
        stub = self._stub_of(worker)
        if stub is None:
            raise rpc_error(grpc.StatusCode.UNAVAILABLE, f"worker {worker} left")
        request = worker_pb2.BatchRequest(items=[pending.item for pending in batch])
        response = await stub.Batch(request, timeout=self._timeout_s)
        if len(response.results) != len(batch):
            raise rpc_error(
                grpc.StatusCode.INTERNAL,
                f"worker {worker} answered {len(response.results)} of {len(batch)} calls",
            )
        settle(batch, [_outcome(result) for result in response.results])

    async def close(self) -> None:
        batchers, self._batchers = list(self._batchers.values()), {}
        for batcher in batchers:
            await batcher.stop(rpc_error(grpc.StatusCode.UNAVAILABLE, "the proxy is stopping"))


def _outcome(result: Result) -> Result | grpc.aio.AioRpcError:
    code = code_of(result.code)
    return result if code == grpc.StatusCode.OK else rpc_error(code, result.message)


def _item_bytes(item: Item) -> int:
    """An item's share of a BatchRequest (an apply carries the whole manifest)."""
    return item.ByteSize() + 8
