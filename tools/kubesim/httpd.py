"""A lean HTTP/1.1 server for the simulated API servers: an asyncio protocol, no framework.

Most requests are answered synchronously from `data_received` (no task, no future), which
is what keeps the simulator's CPU per request small next to the clients it serves. A
handler may instead return an awaitable, for a delayed answer or a streamed (chunked)
response such as a watch; the connection then holds back the requests pipelined behind it.
Keep-alive, `Connection: close`, chunked request bodies and `Expect: 100-continue` follow
RFC 9112.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import http
import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, unquote

log = logging.getLogger(__name__)
JSON = "application/json"
MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024**2
READ_SIZE = 64 * 1024
_REASONS = {s.value: s.phrase for s in http.HTTPStatus}


class Response:
    """A complete response: status, body and content type (plus extra header lines)."""

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        body: bytes,
        status: int = 200,
        content_type: str = JSON,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers


Reply = Response | Awaitable[Response | None]
Handler = Callable[["Request"], Reply]


class Request:
    """One parsed request; `query` keeps the first value of each parameter."""

    __slots__ = ("_conn", "body", "headers", "keep_alive", "method", "path", "query")

    def __init__(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        keep_alive: bool,
        conn: Connection,
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self._conn = conn

    def stream(self, status: int = 200, content_type: str = JSON) -> Stream:
        """Start a chunked response; the handler's awaitable then returns None."""
        return Stream(self._conn, status, content_type, self.keep_alive)


class Stream:
    """A chunked response in progress (a watch): write, drain, end or abort."""

    def __init__(self, conn: Connection, status: int, content_type: str, keep_alive: bool) -> None:
        self._conn = conn
        head = _head(status, content_type, keep_alive, "Transfer-Encoding: chunked")
        conn.write(head)

    @property
    def closed(self) -> bool:
        """True once the client went away (or the server cut the connection)."""
        return self._conn.closed

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call `callback` when the connection is lost (the client left, or an outage)."""
        self._conn.close_callbacks.append(callback)

    def write(self, data: bytes) -> None:
        if data:
            self._conn.write(b"%x\r\n%b\r\n" % (len(data), data))

    async def drain(self) -> None:
        """Wait while the client reads slower than we write."""
        await self._conn.drained()

    def end(self) -> None:
        self._conn.write(b"0\r\n\r\n")

    def abort(self) -> None:
        """Cut the connection without ending the stream (as a dropped connection looks)."""
        self._conn.abort()


class BadRequest(Exception):
    """The bytes on the wire are not a request we can parse; answered with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@functools.lru_cache(maxsize=2)
def _date(second: int) -> bytes:
    return email.utils.formatdate(second, usegmt=True).encode()


def _head(status: int, content_type: str, keep_alive: bool, *extra: str) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}",
        f"Content-Type: {content_type}",
        "Cache-Control: no-cache, private",
        *extra,
    ]
    if not keep_alive:
        lines.append("Connection: close")
    date = _date(int(time.time()))
    return "\r\n".join(lines).encode("latin-1") + b"\r\nDate: " + date + b"\r\n\r\n"


def encode_response(response: Response, keep_alive: bool, head_only: bool = False) -> bytes:
    extra = [f"{k}: {v}" for k, v in response.headers]
    head = _head(
        response.status,
        response.content_type,
        keep_alive,
        f"Content-Length: {len(response.body)}",
        *extra,
    )
    return head if head_only else head + response.body


def _chunked_body(buf: bytes | bytearray, start: int) -> tuple[bytes, int] | None:
    """Decode a chunked body beginning at `start`: (body, end) or None when incomplete."""
    parts: list[bytes | bytearray] = []
    pos, received = start, 0
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        try:
            size = int(buf[pos:eol].split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise BadRequest(400, "invalid chunk size") from exc
        if size == 0:
            end = buf.find(b"\r\n\r\n", eol)
            return (b"".join(parts), end + 4) if end >= 0 else None
        if len(buf) < eol + 2 + size + 2:
            return None
        parts.append(buf[eol + 2 : eol + 2 + size])
        pos = eol + 2 + size + 2
        received += size
        if received > MAX_BODY:
            raise BadRequest(413, "request body too large")


def parse_head(head: bytes | bytearray) -> tuple[str, str, str, dict[str, str]]:
    """(method, target, version, headers with lower-case names) of a request head."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, "invalid request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name[-1] in " \t":
            raise BadRequest(400, "invalid header line")
        name = name.lower()
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return parts[0], parts[1], parts[2], headers


def parse_target(target: str) -> tuple[str, dict[str, str]]:
    """The percent-decoded path and the query (first value of each parameter)."""
    path, _, qs = target.partition("?")
    if "%" in path:
        path = unquote(path)
    query: dict[str, str] = {}
    if qs:
        for key, value in parse_qsl(qs, keep_blank_values=True):
            query.setdefault(key, value)
    return path, query


class Connection(asyncio.BufferedProtocol):
    """One client connection: parses requests and writes their responses in order.

    A buffered protocol: the socket is read into one buffer per connection (a plain
    protocol costs an allocation of the transport's 256 KiB read size, reallocated and
    freed, per read)."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buffer: bytes | bytearray = b""
        self._read_buffer = memoryview(bytearray(READ_SIZE))
        self.busy: asyncio.Task[None] | None = None
        self.closed = False
        self.close_callbacks: list[Callable[[], None]] = []
        self._paused = False
        self._drain: asyncio.Future[None] | None = None
        self._continued = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        self._wake_drain()
        callbacks, self.close_callbacks = self.close_callbacks, []
        for callback in callbacks:
            callback()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_drain()

    def _wake_drain(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._drain = None

    async def drained(self) -> None:
        if self._paused and not self.closed:
            self._drain = asyncio.get_running_loop().create_future()
            await self._drain

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self._read_buffer[:nbytes]))

    def data_received(self, data: bytes) -> None:
        if not self.buffer:
            self.buffer = data
        elif isinstance(self.buffer, bytearray):
            self.buffer += data
        else:
            self.buffer = bytearray(self.buffer) + data  # a request in pieces: grow in place
        if self.busy is None:
            self._process()
        elif len(self.buffer) > MAX_HEAD and self.transport is not None:
            self.transport.pause_reading()

    def _process(self) -> None:
        """Answer every complete request in the buffer, stopping at an asynchronous one."""
        while self.buffer and not self.closed and self.busy is None:
            try:
                request = self._next_request()
            except BadRequest as error:
                self._fail(error)
                return
            if request is None:
                return
            self._answer(request)

    def _next_request(self) -> Request | None:
        buf = self.buffer
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEAD:
                raise BadRequest(431, "request header fields too large")
            return None
        method, target, version, headers = parse_head(buf[:end])
        start = end + 4
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunked = _chunked_body(buf, start)
            if chunked is None:
                self._continue(headers)
                return None
            body, stop = chunked
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError as exc:
                raise BadRequest(400, "invalid Content-Length") from exc
            if length < 0 or length > MAX_BODY:
                raise BadRequest(413 if length > 0 else 400, "invalid Content-Length")
            stop = start + length
            if len(buf) < stop:
                self._continue(headers)
                return None
            body = bytes(buf[start:stop])
        self.buffer = buf[stop:]
        self._continued = False
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection and (
            version == "HTTP/1.1" or "keep-alive" in connection
        )
        path, query = parse_target(target)
        return Request(method, path, query, headers, body, keep_alive, self)

    def _continue(self, headers: dict[str, str]) -> None:
        if headers.get("expect", "").lower() == "100-continue" and not self._continued:
            self._continued = True
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _answer(self, request: Request) -> None:
        try:
            reply = self.server.handler(request)
        except Exception:
            log.exception("handler failed on %s %s", request.method, request.path)
            reply = Response(b'{"kind":"Status","code":500}', 500)
        if isinstance(reply, Response):
            self._send(request, reply)
        else:
            # The reply runs as a task of its own at once: a connection cut before `_finish`
            # started would otherwise leave the handler's coroutine never awaited.
            self.busy = asyncio.ensure_future(self._finish(request, asyncio.ensure_future(reply)))

    async def _finish(self, request: Request, pending: Awaitable[Response | None]) -> None:
        try:
            response = await pending
        except Exception:
            log.exception("handler failed on %s %s", request.method, request.path)
            response = Response(b'{"kind":"Status","code":500}', 500)
        finally:
            self.busy = None
        if response is not None:
            self._send(request, response)
        elif not request.keep_alive:
            self._close()
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()
            self._process()

    def _send(self, request: Request, response: Response) -> None:
        self.write(encode_response(response, request.keep_alive, request.method == "HEAD"))
        if not request.keep_alive:
            self._close()

    def _fail(self, error: BadRequest) -> None:
        body = f'{{"kind":"Status","apiVersion":"v1","status":"Failure","message":"{error}"}}'
        self.write(encode_response(Response(body.encode(), error.status), keep_alive=False))
        self._close()

    def _close(self) -> None:
        self.closed = True
        self.buffer = b""
        if self.transport is not None:
            self.transport.close()


class HttpServer:
    """Listens on one address; `stop()` closes the listener and cuts every connection."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections: set[Connection] = set()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen (port 0: a free one); returns the port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Connection(self), host, port, reuse_address=True
        )
        sockets = self._server.sockets
        return int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for conn in list(self.connections):
            if conn.busy is not None:
                conn.busy.cancel()
            conn.abort()
        with contextlib.suppress(Exception):
            await server.wait_closed()
        await asyncio.sleep(0)
