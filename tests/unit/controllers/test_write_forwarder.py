"""A follower's writes go to the leader as ForwardWrites batches, each keeping its own answer."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import grpc
import pytest

from common.status_codes import number
from fed.v1 import federation_pb2, replica_pb2, types_pb2
from proxy.errors import ApiError
from proxy.forwarded_writes import Answer, WriteForwarder


def delete(name: str) -> federation_pb2.DeleteWorkloadRequest:
    return federation_pb2.DeleteWorkloadRequest(request_id=name, namespace="team-a", name=name)


DELETING = types_pb2.Workload(phase=types_pb2.WORKLOAD_PHASE_DELETING)


class FakeLeader:
    """Answers each delete with a response naming it; a name starting with `bad` is refused
    FAILED_PRECONDITION. `fail_with` fails the whole call."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.followers: list[str] = []
        self.fail_with: grpc.aio.AioRpcError | None = None
        self.drop_last = False
        self.release = asyncio.Event()
        self.release.set()
        self._sent = asyncio.Condition()

    async def ForwardWrites(
        self, request: replica_pb2.ForwardWritesRequest, **options: float
    ) -> replica_pb2.ForwardWritesResponse:
        names = [
            federation_pb2.DeleteWorkloadRequest.FromString(write.request).name
            for write in request.writes
        ]
        async with self._sent:
            self.batches.append(names)
            self.followers.append(request.follower)
            self._sent.notify_all()
        await self.release.wait()
        if self.fail_with is not None:
            raise self.fail_with
        answers = [self._answer(name) for name in names]
        return replica_pb2.ForwardWritesResponse(
            answers=answers[:-1] if self.drop_last else answers, revision=42
        )

    async def sent(self, count: int) -> None:
        async with self._sent:
            await self._sent.wait_for(lambda: len(self.batches) >= count)

    @staticmethod
    def _answer(name: str) -> replica_pb2.ForwardedAnswer:
        if name.startswith("bad"):
            code = number(grpc.StatusCode.FAILED_PRECONDITION)
            return replica_pb2.ForwardedAnswer(code=code, message=f"{name} refused")
        response = federation_pb2.DeleteWorkloadResponse(workload=DELETING)
        return replica_pb2.ForwardedAnswer(response=response.SerializeToString())


def through(leader: FakeLeader) -> WriteForwarder:
    return WriteForwarder(lambda address: cast(Any, leader), "p2", timeout_s=1.0)


async def test_concurrent_writes_share_one_call_and_keep_their_own_answer() -> None:
    leader = FakeLeader()
    forwarder = through(leader)
    outcomes = await asyncio.gather(
        *(forwarder.forward("leader:1", "DeleteWorkload", delete(n)) for n in ("a", "bad-b", "c")),
        return_exceptions=True,
    )
    assert leader.batches == [["a", "bad-b", "c"]]
    assert leader.followers == ["p2"]
    first, refused, last = outcomes
    expected = federation_pb2.DeleteWorkloadResponse(workload=DELETING).SerializeToString()
    assert first == Answer(expected, 42) and last == Answer(expected, 42)
    assert isinstance(refused, ApiError)
    assert refused.code == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.message == "bad-b refused"
    await forwarder.close()


async def test_a_lone_write_goes_at_once_and_those_arriving_meanwhile_go_next_together() -> None:
    leader = FakeLeader()
    leader.release.clear()
    forwarder = through(leader)
    first = asyncio.create_task(forwarder.forward("leader:1", "DeleteWorkload", delete("a")))
    await leader.sent(1)
    later = [
        asyncio.create_task(forwarder.forward("leader:1", "DeleteWorkload", delete(name)))
        for name in ("b", "c")
    ]
    elsewhere = asyncio.create_task(forwarder.forward("leader:2", "DeleteWorkload", delete("d")))
    await leader.sent(2)
    assert leader.batches == [["a"], ["d"]], "another leader's batch went; this one waits"
    leader.release.set()
    await asyncio.gather(first, *later, elsewhere)
    assert leader.batches == [["a"], ["d"], ["b", "c"]]
    await forwarder.close()


async def test_a_failed_call_fails_each_write_with_its_error() -> None:
    leader = FakeLeader()
    leader.fail_with = grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "leader gone"
    )
    forwarder = through(leader)
    outcomes = await asyncio.gather(
        *(forwarder.forward("leader:1", "DeleteWorkload", delete(n)) for n in ("a", "b")),
        return_exceptions=True,
    )
    for outcome in outcomes:
        assert isinstance(outcome, grpc.aio.AioRpcError)
        assert outcome.code() == grpc.StatusCode.UNAVAILABLE
    await forwarder.close()


async def test_a_short_answer_is_internal() -> None:
    leader = FakeLeader()
    leader.drop_last = True
    forwarder = through(leader)
    with pytest.raises(ApiError) as raised:
        await forwarder.forward("leader:1", "DeleteWorkload", delete("a"))
    assert raised.value.code == grpc.StatusCode.INTERNAL
    assert "answered 0 of 1 writes" in raised.value.message
    await forwarder.close()


def batcher_tasks() -> list[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if task.get_name() == "batcher"]


async def test_a_former_leaders_batcher_ends_once_idle_and_a_later_write_gets_a_new_one() -> None:
    leader = FakeLeader()
    leader.release.clear()
    forwarder = WriteForwarder(lambda address: cast(Any, leader), "p2", timeout_s=1.0, idle_s=0.001)
    write = asyncio.create_task(forwarder.forward("leader:1", "DeleteWorkload", delete("a")))
    await leader.sent(1)
    (task,) = batcher_tasks()
    leader.release.set()
    await write
    await asyncio.wait_for(task, timeout=5)
    assert batcher_tasks() == []
    answer = await forwarder.forward("leader:1", "DeleteWorkload", delete("b"))
    assert answer.revision == 42
    assert leader.batches == [["a"], ["b"]]
    await forwarder.close()
