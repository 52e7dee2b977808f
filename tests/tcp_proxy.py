"""A loopback TCP forwarder that a test can cut and restore, to disconnect a client for real,
make drop what the server answers (a request that reaches the server whose reply is lost), or
drop what the client sends after a given request (a client that died right after it)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from common.etcd_launcher import free_port


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._replies_dropped = False
        self._drop_after: bytes | None = None
        self._requests_dropped = False
        self._drop_requests_after: bytes | None = None
        self._replies_flow = asyncio.Event()
        self._replies_flow.set()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    def drop_replies(self, after: bytes) -> None:
        """Once a request holding `after` has passed, and until the next `reset`, requests still
        reach the server but nothing it sends back reaches the client."""
        self._drop_after = after

    def drop_requests_after(self, marker: bytes) -> None:
        """What the client sends reaches the server up to and including the first read that
        holds `marker`; after it, and until the next `reset`, nothing more does."""
        self._drop_requests_after = marker

    def hold_replies(self) -> None:
        """Until `release`, what the server sends waits in the forwarder (requests pass)."""
        self._replies_flow.clear()

    def release(self) -> None:
        self._replies_flow.set()

    async def cut(self) -> None:
        """Stop accepting and drop every open connection (the client sees a disconnect)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.reset()

    def reset(self) -> None:
        """Drop every open connection but keep accepting: the client reconnects at once."""
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        self._replies_dropped = False
        self._drop_after = None
        self._requests_dropped = False
        self._drop_requests_after = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update({writer, up_writer})
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(
                self._pipe(reader, up_writer),
                self._pipe(up_reader, writer, reply=True),
                return_exceptions=True,
            )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reply: bool = False
    ) -> None:
        try:
            while data := await reader.read(65536):
                if reply and self._replies_dropped:
                    continue
                if reply:
                    await self._replies_flow.wait()
                elif self._requests_dropped:
                    continue
                elif self._drop_requests_after is not None and self._drop_requests_after in data:
                    self._requests_dropped = True
                if not reply and self._drop_after is not None and self._drop_after in data:
                    self._replies_dropped = True
                writer.write(data)
                await writer.drain()
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.transport.abort()


@contextlib.asynccontextmanager
async def forwarding_to(port: int) -> AsyncIterator[TcpProxy]:
    """A started forwarder to a loopback port, cut at the end of the block."""
    forwarder = TcpProxy("127.0.0.1", port)
    await forwarder.start()
    try:
        yield forwarder
    finally:
        await forwarder.cut()
