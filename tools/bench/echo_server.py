"""A bare grpc.aio Federation server whose PlaceWorkload echoes a canned answer.

The placement benchmark measures it with the same load generator as the proxy, so the
proxy's figures can be read as a ratio to the transport's own ceiling on this machine: on
asyncio's default event loop with the generated registration (a bare server), and with
`--proxy-transport` as the proxy serves: on its own loop (uvloop), its methods added as
generic handlers only (common.grpc_server).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from typing import Any

import grpc

from common import event_loop
from common.grpc_server import GenericHandlerServer
from fed.v1 import federation_pb2, federation_pb2_grpc, types_pb2


class EchoFederation(federation_pb2_grpc.FederationServicer):
    async def PlaceWorkload(self, request: Any, context: Any) -> Any:
        placement = types_pb2.Placement(
            clusters=[types_pb2.ClusterPlacement(cluster="c1", replicas=request.spec.replicas)]
        )
        workload = types_pb2.Workload(spec=request.spec, placement=placement)
        return federation_pb2.PlaceWorkloadResponse(workload=workload)


async def serve(make_server: Callable[[], grpc.aio.Server]) -> None:
    server = make_server()
    federation_pb2_grpc.add_FederationServicer_to_server(EchoFederation(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(json.dumps({"event": "ready", "address": f"127.0.0.1:{port}"}), flush=True)
    await server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--proxy-transport",
        action="store_true",
        help="serve as the proxy does: on its event loop, with generic handlers only",
    )
    if parser.parse_args().proxy_transport:
        event_loop.run(serve(GenericHandlerServer))
    else:
        asyncio.run(serve(grpc.aio.server))


if __name__ == "__main__":
    main()
