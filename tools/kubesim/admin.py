"""The fleet's admin endpoint: cluster listing and fault injection (loopback only)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tools.kubesim.faults import Fault

FaultHandler = Callable[[str, Fault], Awaitable[dict[str, Any]]]
Lister = Callable[[], list[dict[str, Any]]]


class AdminServer:
    """`GET /clusters`, `POST /clusters/<name>/faults {"fault": "latency", "arg": "200ms"}`."""

    def __init__(self, lister: Lister, on_fault: FaultHandler) -> None:
        self.lister = lister
        self.on_fault = on_fault
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._health)
        app.router.add_get("/clusters", self._clusters)
        app.router.add_post("/clusters/{name}/faults", self._fault)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.port = runner.addresses[0][1]
        self._runner = runner

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _health(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _clusters(self, _: web.Request) -> web.Response:
        return web.json_response({"clusters": self.lister()})

    async def _fault(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            fault = Fault.parse(str(body.get("fault", "")), body.get("arg"))
        except (ValueError, AttributeError, json.JSONDecodeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        try:
            state = await self.on_fault(request.match_info["name"], fault)
        except KeyError:
            return web.json_response(
                {"error": f"no cluster {request.match_info['name']}"}, status=404
            )
        return web.json_response(state)
