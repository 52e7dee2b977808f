"""The client library reconnects to a proxy that was unreachable for a while on its own retry
policy, not on gRPC's reconnect backoff (which would have grown to ~6.5 s here)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from tcp_proxy import TcpProxy, forwarding_to

from client.federation import FederationClient, FederationError
from common.settings import RetrySettings
from fed.v1 import federation_pb2, federation_pb2_grpc, types_pb2
from tools.bench.echo_server import EchoFederation

pytestmark = pytest.mark.integration


@pytest.fixture
async def hop() -> AsyncIterator[TcpProxy]:
    """The client's way to a Federation server that answers every placement."""
    server = grpc.aio.server()
    federation_pb2_grpc.add_FederationServicer_to_server(EchoFederation(), server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with forwarding_to(port) as forwarder:
            yield forwarder
    finally:
        await server.stop(grace=None)


async def test_the_client_reconnects_within_its_retry_backoff_after_an_outage(
    hop: TcpProxy,
) -> None:
    policy = RetrySettings(attempts=1000, initial_backoff_s=0.05, max_backoff_s=0.2)
    spec = types_pb2.WorkloadSpec(namespace="ns", name="web", replicas=1)
    request = federation_pb2.PlaceWorkloadRequest(request_id="r-1", spec=spec)
    async with FederationClient([hop.endpoint], retry_deadline_s=1.0, retry_policy=policy) as api:
        await api.call("PlaceWorkload", request)
        await hop.cut()
        outage_ends = time.monotonic() + 12.0
        while time.monotonic() < outage_ends:
            with contextlib.suppress(FederationError):
                await api.call("PlaceWorkload", request)
        await hop.start()
        back = time.monotonic()
        answer = await api.call("PlaceWorkload", request)
        assert time.monotonic() - back < 1.0
    assert answer.workload.spec.name == "web"
