"""The lean HTTP/1.1 server under kubesim's API servers, spoken to over raw sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tools.kubesim.httpd import (
    HttpServer,
    Reply,
    Request,
    Response,
    parse_head,
    parse_target,
)


class Echo:
    """Answers with what it was sent; `/slow` waits for `gate`, `/stream` streams."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.slow_started = asyncio.Event()
        self.closed = asyncio.Event()
        self.requests: list[Request] = []

    def __call__(self, request: Request) -> Reply:
        self.requests.append(request)
        if request.path == "/slow":
            return self._slow(request)
        if request.path == "/stream":
            return self._stream(request)
        if request.path == "/boom":
            raise RuntimeError("handler bug")
        body = f"{request.method} {request.path} {sorted(request.query.items())} ".encode()
        return Response(body + request.body, 201 if request.method == "POST" else 200)

    async def _slow(self, request: Request) -> Response:
        self.slow_started.set()
        await self.gate.wait()
        return Response(b"slow")

    async def _stream(self, request: Request) -> None:
        stream = request.stream()
        stream.on_close(self.closed.set)
        stream.write(b"one\n")
        await stream.drain()
        await self.gate.wait()
        if not stream.closed:
            stream.write(b"two\n")
            stream.end()


@pytest.fixture
async def served() -> AsyncIterator[tuple[HttpServer, Echo, int]]:
    echo = Echo()
    server = HttpServer(echo)
    port = await server.start("127.0.0.1", 0)
    yield server, echo, port
    await server.stop()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One response off the wire: status, headers (lower-case names), body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
    if "content-length" in headers:
        return status, headers, await reader.readexactly(int(headers["content-length"]))
    body = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return status, headers, body
        body += chunk[:-2]


async def test_keep_alive_and_pipelined_requests_answer_in_order(
    served: tuple[HttpServer, Echo, int],
) -> None:
    _, _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET /a?x=1&x=2&y= HTTP/1.1\r\nHost: h\r\n\r\n"
        b"POST /b%20c HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody"
    )
    status, headers, body = await read_response(reader)
    assert (status, body) == (200, b"GET /a [('x', '1'), ('y', '')] ")
    assert headers["content-type"] == "application/json"
    assert "connection" not in headers and "date" in headers
    status, _, body = await read_response(reader)
    assert (status, body) == (201, b"POST /b c [] body")
    writer.close()


async def test_chunked_body_and_expect_continue(served: tuple[HttpServer, Echo, int]) -> None:
    _, _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
    )
    assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n")
    status, _, body = await read_response(reader)
    assert (status, body) == (200, b"PUT /c [] abcde")
    writer.close()


async def test_bodies_arriving_in_pieces(served: tuple[HttpServer, Echo, int]) -> None:
    _, _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    big = b"x" * 300_000
    writer.write(b"POST /big HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(big))
    for at in range(0, len(big), 70_000):
        writer.write(big[at : at + 70_000])
        await writer.drain()
    status, _, body = await read_response(reader)
    assert (status, body) == (201, b"POST /big [] " + big)
    writer.write(b"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")
    await writer.drain()
    writer.write(b"cde\r\n0\r\n")
    await writer.drain()
    writer.write(b"\r\n")
    status, _, body = await read_response(reader)
    assert (status, body) == (200, b"PUT /c [] abcde")
    writer.close()


async def test_connection_close_and_http10(served: tuple[HttpServer, Echo, int]) -> None:
    _, _, port = served
    for request in (
        b"GET /x HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"GET /x HTTP/1.0\r\n\r\n",
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        status, headers, _ = await read_response(reader)
        assert (status, headers["connection"]) == (200, "close")
        assert await reader.read() == b"", "the server closes the connection"
        writer.close()


async def test_head_has_no_body(served: tuple[HttpServer, Echo, int]) -> None:
    _, _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"HEAD /h HTTP/1.1\r\n\r\nGET /g HTTP/1.1\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Content-Length: 11\r\n" in head
    status, _, body = await read_response(reader)
    assert (status, body) == (200, b"GET /g [] ")
    writer.close()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NONSENSE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000, 431),
    ],
)
async def test_malformed_requests_are_refused(
    served: tuple[HttpServer, Echo, int], request_bytes: bytes, status: int
) -> None:
    _, _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_bytes)
    got, headers, _ = await read_response(reader)
    assert (got, headers["connection"]) == (status, "close")
    writer.close()


async def test_handler_errors_are_500(served: tuple[HttpServer, Echo, int]) -> None:
    _, _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /boom HTTP/1.1\r\n\r\nGET /after HTTP/1.1\r\n\r\n")
    assert (await read_response(reader))[0] == 500
    assert (await read_response(reader))[0] == 200, "the connection stays usable"
    writer.close()


async def test_async_reply_holds_back_pipelined_requests(
    served: tuple[HttpServer, Echo, int],
) -> None:
    _, echo, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /slow HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n")
    await asyncio.wait_for(echo.slow_started.wait(), 10)
    assert [r.path for r in echo.requests] == ["/slow"]
    echo.gate.set()
    assert (await read_response(reader))[2] == b"slow"
    assert (await read_response(reader))[2] == b"GET /next [] "
    writer.close()


async def test_stream_is_chunked_and_ends(served: tuple[HttpServer, Echo, int]) -> None:
    _, echo, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /stream HTTP/1.1\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert await reader.readuntil(b"\r\n") == b"4\r\n"
    assert await reader.readexactly(6) == b"one\n\r\n"
    echo.gate.set()
    assert await reader.readuntil(b"0\r\n\r\n") == b"4\r\ntwo\n\r\n0\r\n\r\n"
    writer.close()


async def test_client_leaving_a_stream_calls_on_close(
    served: tuple[HttpServer, Echo, int],
) -> None:
    _, echo, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /stream HTTP/1.1\r\n\r\n")
    await reader.readuntil(b"one\n\r\n")
    writer.close()
    await asyncio.wait_for(echo.closed.wait(), 10)


async def test_stop_cuts_open_connections(served: tuple[HttpServer, Echo, int]) -> None:
    server, echo, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /stream HTTP/1.1\r\n\r\n")
    await reader.readuntil(b"one\n\r\n")
    await server.stop()
    assert await reader.read() == b"", "the stream is cut without its last chunk"
    await asyncio.wait_for(echo.closed.wait(), 10)
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    writer.close()


def test_parse_head_joins_repeated_headers() -> None:
    method, target, version, headers = parse_head(
        b"GET /x?a=1 HTTP/1.1\r\nAccept: a\r\naccept: b\r\nX-Y:  z "
    )
    assert (method, target, version) == ("GET", "/x?a=1", "HTTP/1.1")
    assert headers == {"accept": "a, b", "x-y": "z"}


def test_parse_target_decodes_path_and_query() -> None:
    assert parse_target("/api/v1/pods%2Fx?labelSelector=a%3Db%2Cc&limit=5") == (
        "/api/v1/pods/x",
        {"labelSelector": "a=b,c", "limit": "5"},
    )
