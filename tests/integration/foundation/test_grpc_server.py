"""A GenericHandlerServer serves generated services (and reflection) without pre-registering
their methods: grpc.aio would otherwise keep a request task per method and accept every call
through an asyncio.wait over all of them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import grpc.aio
import pytest
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from common.grpc_server import GenericHandlerServer
from fed.v1 import federation_pb2, federation_pb2_grpc, types_pb2
from tools.bench.echo_server import EchoFederation

pytestmark = pytest.mark.integration

SERVICE = federation_pb2.DESCRIPTOR.services_by_name["Federation"].full_name


def registered_call_requests() -> int:
    """Pending grpc.aio tasks that wait for a call of one pre-registered method."""
    return sum(
        1
        for task in asyncio.all_tasks()
        if task.get_coro().__qualname__.endswith("_request_registered_call")
    )


async def started(server: grpc.aio.Server) -> int:
    federation_pb2_grpc.add_FederationServicer_to_server(EchoFederation(), server)  # type: ignore[no-untyped-call]
    reflection.enable_server_reflection((SERVICE, reflection.SERVICE_NAME), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return port


@pytest.fixture
async def generic() -> AsyncIterator[int]:
    server = GenericHandlerServer()
    port = await started(server)
    try:
        yield port
    finally:
        await server.stop(grace=None)


async def test_no_method_is_pre_registered_where_a_plain_server_registers_each(
    generic: int,
) -> None:
    assert registered_call_requests() == 0
    plain = grpc.aio.server()
    await started(plain)
    try:
        assert registered_call_requests() >= len(
            federation_pb2.DESCRIPTOR.services_by_name["Federation"].methods
        )
    finally:
        await plain.stop(grace=None)


async def test_generated_services_and_reflection_answer_through_generic_handlers(
    generic: int,
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{generic}") as channel:
        spec = types_pb2.WorkloadSpec(namespace="ns", name="web", replicas=3)
        answer = await federation_pb2_grpc.FederationStub(channel).PlaceWorkload(
            federation_pb2.PlaceWorkloadRequest(request_id="r1", spec=spec)
        )
        assert answer.workload.placement.clusters[0].replicas == 3
        with pytest.raises(grpc.aio.AioRpcError) as unimplemented:
            await federation_pb2_grpc.FederationStub(channel).GetTopology(
                federation_pb2.GetTopologyRequest()
            )
        assert unimplemented.value.code() == grpc.StatusCode.UNIMPLEMENTED
        listing = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        services = [
            s.name async for answer in listing for s in answer.list_services_response.service
        ]
        assert SERVICE in services
