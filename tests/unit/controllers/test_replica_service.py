"""The leader answers each forwarded write on its own, as the Federation call would have."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import grpc
import pytest
from google.protobuf.message import Message

from common.status_codes import code_of
from fed.v1 import federation_pb2, replica_pb2, types_pb2
from proxy.errors import ApiError
from proxy.federation_writes import WRITES
from proxy.replica_service import MAX_WRITES, ReplicaService

DELETING = types_pb2.Workload(phase=types_pb2.WORKLOAD_PHASE_DELETING)


class FakeWrites:
    """Deletes `gone-*` are NOT_FOUND, `boom` raises a bug; the rest wait for `release`, so a
    test sees whether the batch's writes ran at once."""

    def __init__(self) -> None:
        self.running = 0
        self.most_at_once = 0
        self.release = asyncio.Event()
        self.both_running = asyncio.Event()

    async def write_here(self, method: str, request: Message) -> Message:
        assert isinstance(request, federation_pb2.DeleteWorkloadRequest)
        if request.name.startswith("gone"):
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"workload {request.name} not found")
        if request.name == "boom":
            raise RuntimeError("a bug")
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        if self.running == 2:
            self.both_running.set()
        await self.release.wait()
        self.running -= 1
        return federation_pb2.DeleteWorkloadResponse(workload=DELETING)


class FakeStore:
    written_revision = 7


class Aborted(Exception):
    pass


class FakeContext:
    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise Aborted(code, details)


def write(method: str, request: bytes) -> replica_pb2.ForwardedWrite:
    return replica_pb2.ForwardedWrite(method=method, request=request)


def delete(name: str) -> replica_pb2.ForwardedWrite:
    request = federation_pb2.DeleteWorkloadRequest(request_id=name, namespace="a", name=name)
    return write("DeleteWorkload", request.SerializeToString())


async def test_each_write_is_answered_on_its_own_and_they_run_at_once() -> None:
    writes = FakeWrites()
    service = ReplicaService(writes, cast(Any, FakeStore()))
    request = replica_pb2.ForwardWritesRequest(
        follower="p2",
        writes=[
            delete("a"),
            delete("gone-b"),
            write("GetWorkload", b""),
            write("DeleteWorkload", b"\xff\xff"),
            delete("boom"),
            delete("c"),
        ],
    )
    call = asyncio.create_task(service.ForwardWrites(request, FakeContext()))
    await asyncio.wait_for(writes.both_running.wait(), timeout=5)
    writes.release.set()
    response = await call
    assert writes.most_at_once == 2
    assert response.revision == 7
    codes = [code_of(answer.code) for answer in response.answers]
    assert codes == [
        grpc.StatusCode.OK,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.OK,
    ]
    deleted = federation_pb2.DeleteWorkloadResponse.FromString(response.answers[0].response)
    assert deleted.workload == DELETING
    assert response.answers[1].message == "workload gone-b not found"
    assert "writes[].method: 'GetWorkload'" in response.answers[2].message
    assert "writes[].request: not a DeleteWorkloadRequest" in response.answers[3].message


async def test_too_many_writes_are_refused_naming_the_field() -> None:
    service = ReplicaService(FakeWrites(), cast(Any, FakeStore()))
    request = replica_pb2.ForwardWritesRequest(writes=[delete("a")] * (MAX_WRITES + 1))
    with pytest.raises(Aborted) as raised:
        await service.ForwardWrites(request, FakeContext())
    code, details = raised.value.args
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("writes: at most 1000")


def test_the_write_table_matches_the_federation_service() -> None:
    methods = federation_pb2.DESCRIPTOR.services_by_name["Federation"].methods_by_name
    for method, write in WRITES.items():
        assert methods[method].input_type is write.request.DESCRIPTOR
        assert methods[method].output_type is write.response.DESCRIPTOR
