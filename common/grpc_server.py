"""A grpc.aio server to which services are added as generic handlers only.

The generated `add_*Servicer_to_server` functions also pre-register every method of the
service. grpc.aio (1.85) then keeps one pending request task per pre-registered method and
accepts each call through an `asyncio.wait` over all of them: with the proxy's 25 methods,
every call costs some 25 callbacks added and removed on the event loop, and the loop takes
in one call per wake-up. Without pre-registration one request task takes in every call, and
the method's handler is found by name. On the leader (tools/bench/placement.py's load, two
proxies on one etcd, three runs of 6 alternating pairs) the main thread went from 447-464 to
413-442 us per placement, and placements/s rose by 4-8%.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
import grpc.aio


class GenericHandlerServer(grpc.aio.Server):
    """Delegates to a grpc.aio server; `add_registered_method_handlers` keeps the base
    class's no-op, so the generated `add_*Servicer_to_server` adds generic handlers only."""

    def __init__(self) -> None:
        self._server = grpc.aio.server()

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(handlers)

    def add_insecure_port(self, address: str) -> int:
        return self._server.add_insecure_port(address)

    def add_secure_port(self, address: str, server_credentials: grpc.ServerCredentials) -> int:
        return self._server.add_secure_port(address, server_credentials)

    async def start(self) -> None:
        await self._server.start()

    async def stop(self, grace: float | None) -> None:
        await self._server.stop(grace)

    async def wait_for_termination(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        return await self._server.wait_for_termination(timeout)
