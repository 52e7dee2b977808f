"""The binder's worker calls go out as Batch RPCs, each call keeping its own outcome."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import grpc
import pytest

from common.status_codes import number
from fed.v1 import worker_pb2
from proxy.worker_batches import WorkerBatches, rpc_error


def status_item(name: str) -> worker_pb2.BatchItem:
    request = worker_pb2.GetWorkloadStatusRequest(cluster="c1", namespace="team-a", name=name)
    return worker_pb2.BatchItem(status=request)


class FakeStub:
    """Answers each status item with its name as the message; a name starting with `bad`
    fails with FAILED_PRECONDITION. `fail_with` fails the whole RPC."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.fail_with: grpc.aio.AioRpcError | None = None
        self.drop_last = False
        self.release = asyncio.Event()
        self.release.set()
        self._sent = asyncio.Condition()

    async def Batch(self, request: worker_pb2.BatchRequest, **options: float) -> object:
        async with self._sent:
            self.batches.append([item.status.name for item in request.items])
            self._sent.notify_all()
        await self.release.wait()
        if self.fail_with is not None:
            raise self.fail_with
        results = [self._answer(item.status.name) for item in request.items]
        return worker_pb2.BatchResponse(results=results[:-1] if self.drop_last else results)

    async def sent(self, count: int) -> None:
        async with self._sent:
            await self._sent.wait_for(lambda: len(self.batches) >= count)

    @staticmethod
    def _answer(name: str) -> worker_pb2.BatchResult:
        if name.startswith("bad"):
            code = number(grpc.StatusCode.FAILED_PRECONDITION)
            return worker_pb2.BatchResult(code=code, message=f"{name} refused")
        return worker_pb2.BatchResult(status=worker_pb2.WorkloadStatus(message=name))


def over(stub: FakeStub) -> WorkerBatches:
    return WorkerBatches(lambda worker: cast(Any, stub), window_s=0.001, timeout_s=1.0)


async def test_concurrent_calls_share_one_rpc_and_keep_their_own_outcome() -> None:
    stub = FakeStub()
    batches = over(stub)
    outcomes = await asyncio.gather(
        *(batches.call("w1", "c1", status_item(name)) for name in ("a", "bad-b", "c")),
        return_exceptions=True,
    )
    assert stub.batches == [["a", "bad-b", "c"]]
    first, refused, last = outcomes
    assert isinstance(first, worker_pb2.BatchResult) and first.status.message == "a"
    assert isinstance(last, worker_pb2.BatchResult) and last.status.message == "c"
    assert isinstance(refused, grpc.aio.AioRpcError)
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.details() == "bad-b refused"
    await batches.close()


async def test_calls_arriving_while_a_batch_is_out_go_together_in_the_next() -> None:
    stub = FakeStub()
    stub.release.clear()
    batches = over(stub)
    first = asyncio.create_task(batches.call("w1", "c1", status_item("a")))
    await stub.sent(1)
    later = [asyncio.create_task(batches.call("w1", "c1", status_item(n))) for n in "bc"]
    other_cluster = asyncio.create_task(batches.call("w1", "c2", status_item("d")))
    await stub.sent(2)
    assert stub.batches == [["a"], ["d"]]  # c2 does not wait for c1's batch
    stub.release.set()
    await asyncio.gather(first, *later, other_cluster)
    assert stub.batches == [["a"], ["d"], ["b", "c"]]
    await batches.close()


async def test_a_failed_rpc_fails_each_call_with_its_error() -> None:
    stub = FakeStub()
    stub.fail_with = rpc_error(grpc.StatusCode.UNAVAILABLE, "connection refused")
    batches = over(stub)
    outcomes = await asyncio.gather(
        *(batches.call("w1", "c1", status_item(name)) for name in "ab"), return_exceptions=True
    )
    assert [o.code() for o in outcomes if isinstance(o, grpc.aio.AioRpcError)] == [
        grpc.StatusCode.UNAVAILABLE
    ] * 2
    stub.fail_with = None
    stub.drop_last = True
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await batches.call("w1", "c1", status_item("a"))
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert "answered 0 of 1" in (err.value.details() or "")
    await batches.close()


async def test_a_worker_that_left_is_unavailable() -> None:
    batches = WorkerBatches(lambda worker: None, window_s=0.001, timeout_s=1.0)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await batches.call("w1", "c1", status_item("a"))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "w1 left" in (err.value.details() or "")
    await batches.close()


async def test_a_caller_that_gave_up_does_not_disturb_the_others() -> None:
    stub = FakeStub()
    stub.release.clear()
    batches = over(stub)
    gave_up = asyncio.create_task(batches.call("w1", "c1", status_item("a")))
    stays = asyncio.create_task(batches.call("w1", "c1", status_item("b")))
    await stub.sent(1)
    gave_up.cancel()
    stub.release.set()
    assert (await stays).status.message == "b"
    assert gave_up.cancelled()
    await batches.close()


def batcher_tasks() -> list[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if task.get_name() == "batcher"]


async def test_a_worker_clusters_batcher_ends_once_idle_and_a_later_call_gets_a_new_one() -> None:
    stub = FakeStub()
    stub.release.clear()
    batches = WorkerBatches(
        lambda worker: cast(Any, stub), window_s=0.001, timeout_s=1.0, idle_s=0.001
    )
    call = asyncio.create_task(batches.call("w1", "c1", status_item("a")))
    await stub.sent(1)
    (task,) = batcher_tasks()
    stub.release.set()
    await call
    await asyncio.wait_for(task, timeout=5)
    assert batcher_tasks() == []
    result = await batches.call("w1", "c1", status_item("b"))
    assert result.status.message == "b"
    assert stub.batches == [["a"], ["b"]]
    await batches.close()
