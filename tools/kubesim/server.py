"""The Kubernetes REST API of one simulated cluster over real HTTP (loopback only).

Requests are answered synchronously (see `httpd`) except watches and injected latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import yaml

from tools.kubesim import discovery, openapi, protobuf, tables
from tools.kubesim.errors import ApiError, bad_request, not_found
from tools.kubesim.faults import FaultState
from tools.kubesim.httpd import HttpServer, Reply, Request, Response, Stream
from tools.kubesim.registry import DeleteOptions, ListResult, Registry
from tools.kubesim.resources import BINDINGS, METRICS_GROUP, ResourceType, lookup
from tools.kubesim.selectors import parse_field_selector, parse_label_selector
from tools.kubesim.store import Entry, dumps
from tools.kubesim.watch import Watcher, WatchHub, error_line

log = logging.getLogger(__name__)
JSON = "application/json"
APPLY_PATCH = "application/apply-patch+yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"
HEALTH_PATHS = frozenset({"healthz", "readyz", "livez"})


class MetricsSource(Protocol):
    def node_metrics(self, name: str | None, labels: str) -> list[dict[str, Any]]: ...

    def pod_metrics(
        self, namespace: str | None, name: str | None, labels: str
    ) -> list[dict[str, Any]]: ...


@dataclass
class Target:
    """A parsed resource URL."""

    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str


def respond(body: bytes, status: int = 200) -> Response:
    return Response(body, status)


def respond_json(obj: Any, status: int = 200) -> Response:
    return Response(dumps(obj), status)


def error_response(error: ApiError) -> Response:
    return respond_json(error.status(), error.code)


def parse_target(parts: list[str]) -> Target | None:
    """Map /api/v1/... or /apis/<group>/<version>/... segments to a resource target."""
    if parts[0] == "api" and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if rest[0] == "namespaces" and len(rest) >= 3:
        rt = lookup(group, version, rest[2])
        if rt is not None and rt.namespaced and len(rest) <= 5:
            return Target(rt, rest[1], _at(rest, 3), _at(rest, 4) or "")
    rt = lookup(group, version, rest[0])
    if rt is None or len(rest) > 3:
        return None
    if not rt.namespaced and len(rest) >= 1:
        return Target(rt, None, _at(rest, 1), _at(rest, 2) or "")
    if len(rest) == 1:
        return Target(rt, None, None, "")
    return None


def _at(parts: list[str], idx: int) -> str | None:
    return parts[idx] if len(parts) > idx else None


def list_bytes(rt: ResourceType, result: ListResult) -> bytes:
    meta: dict[str, Any] = {"resourceVersion": str(result.rv)}
    if result.continue_token:
        meta["continue"] = result.continue_token
    if result.remaining is not None:
        meta["remainingItemCount"] = result.remaining
    head = (
        b'{"kind":"'
        + rt.list_kind.encode()
        + b'","apiVersion":"'
        + rt.api_version.encode()
        + b'","metadata":'
        + dumps(meta)
        + b',"items":['
    )
    return head + b",".join(e.raw() for e in result.items) + b"]}"


class ApiServer:
    """Serves one cluster; `stop()` and `start()` again on the same port model an outage."""

    def __init__(
        self,
        registry: Registry,
        hub: WatchHub,
        faults: FaultState,
        metrics: MetricsSource,
        bookmark_interval: float = 60.0,
        watch_timeout: float = 1800.0,
    ) -> None:
        self.registry = registry
        self.hub = hub
        self.faults = faults
        self.metrics = metrics
        self.bookmark_interval = bookmark_interval
        self.watch_timeout = watch_timeout
        self.port = 0
        self._http: HttpServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._http is not None

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1 (a free port the first time, the same port after an outage)."""
        server = HttpServer(self.handle)
        self.port = await server.start("127.0.0.1", port or self.port)
        self._http = server

    async def stop(self) -> None:
        """Close the listener and every open connection (watches are cut, not ended)."""
        server, self._http = self._http, None
        if server is None:
            return
        self.hub.close_all(abort=True)
        await server.stop()

    def handle(self, request: Request) -> Reply:
        """Answer `request` now, or return the awaitable that will (watches, latency)."""
        if self.faults.latency:
            return self._delayed(request, self.faults.latency)
        return self._answer(request)

    async def _delayed(self, request: Request, latency: float) -> Response | None:
        await asyncio.sleep(latency)
        reply = self._answer(request)
        return reply if isinstance(reply, Response) else await reply

    def _answer(self, request: Request) -> Reply:
        try:
            self.faults.check(request.method)
            return self._dispatch(request)
        except ApiError as error:
            return error_response(error)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("malformed request %s %s: %r", request.method, request.path, exc)
            return error_response(bad_request(f"malformed request: {exc!r}"))
        except Exception:
            log.exception("kubesim failed on %s %s", request.method, request.path)
            return error_response(ApiError(500, "kubesim internal error", "InternalError"))

    def _dispatch(self, request: Request) -> Reply:
        parts = [p for p in request.path.split("/") if p]
        if not parts:
            return respond_json({"paths": ["/api", "/api/v1", "/apis", "/version", "/healthz"]})
        static = self._static(parts)
        if static is not None:
            return static
        target = parse_target(parts)
        if target is None:
            raise ApiError(404, "the server could not find the requested resource")
        if target.rt.group == METRICS_GROUP:
            return self._metrics(request, target)
        if target.rt is BINDINGS:
            return self._binding(request, target)
        return self._resource(request, target)

    def _static(self, parts: list[str]) -> Response | None:
        if parts == ["version"]:
            return respond_json(discovery.version())
        if parts[0] in HEALTH_PATHS:
            return Response(b"ok", content_type="text/plain; charset=utf-8")
        if parts[0] == "openapi" and parts[1:2] == ["v3"]:
            doc = openapi.root() if len(parts) == 2 else openapi.group_version("/".join(parts[2:]))
            if doc is None:
                raise ApiError(404, "the server could not find the requested resource")
            return respond_json(doc)
        if parts == ["api"]:
            return respond_json(discovery.core_versions(f"127.0.0.1:{self.port}"))
        if parts == ["apis"]:
            return respond_json(discovery.api_groups())
        if parts == ["api", "v1"] or (parts[0] == "apis" and len(parts) == 3):
            group, version = ("", "v1") if parts[0] == "api" else (parts[1], parts[2])
            doc = discovery.resource_list(group, version)
            if doc is None:
                raise ApiError(404, "the server could not find the requested resource")
            return respond_json(doc)
        return None

    def _metrics(self, request: Request, target: Target) -> Response:
        if request.method != "GET" or target.subresource:
            raise ApiError(405, f"{request.method} is not supported on {target.rt.plural}")
        labels = request.query.get("labelSelector", "")
        parse_label_selector(labels)
        if target.rt.kind == "NodeMetrics":
            items = self.metrics.node_metrics(target.name, labels)
        else:
            items = self.metrics.pod_metrics(target.namespace, target.name, labels)
        if target.name is not None:
            if not items:
                raise not_found(target.rt.plural, target.name, METRICS_GROUP)
            return respond_json(items[0])
        return respond_json(
            {
                "kind": f"{target.rt.kind}List",
                "apiVersion": target.rt.api_version,
                "metadata": {},
                "items": items,
            }
        )

    def _resource(self, request: Request, target: Target) -> Reply:
        method = request.method
        if method == "GET":
            if target.name is None:
                if request.query.get("watch") in ("true", "1"):
                    return self._watch(request, target)
                return self._list(request, target)
            return self._get(request, target)
        body = self._body(request)
        if method == "POST":
            return self._post(target, body)
        if target.name is None:
            if method == "DELETE":
                return self._delete_collection(request, target, body)
            raise ApiError(405, f"{method} requires a name")
        if method == "PUT":
            return self._put(target, body)
        if method == "PATCH":
            return self._patch(request, target, body)
        if method == "DELETE":
            entry = self.registry.delete(
                target.rt,
                target.namespace,
                target.name,
                DeleteOptions.parse(body, request.query),
            )
            return respond(entry.raw())
        raise ApiError(405, f"method {method} is not allowed")

    def _body(self, request: Request) -> Any:
        raw = request.body
        if not raw:
            return None
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(PROTOBUF):
            return protobuf.decode(raw)
        if content_type.startswith(APPLY_PATCH) or content_type.startswith("application/yaml"):
            try:
                return yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                raise bad_request(f"error decoding YAML: {exc}") from exc
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise bad_request(f"couldn't get version/kind; json parse error: {exc}") from exc

    def _get(self, request: Request, target: Target) -> Response:
        assert target.name is not None
        if target.subresource == "scale":
            return respond_json(self.registry.scale(target.rt, target.namespace or "", target.name))
        if target.subresource not in ("", "status"):
            raise ApiError(405, f"GET is not supported on {target.subresource}")
        entry = self.registry.get(target.rt, target.namespace, target.name)
        accept = request.headers.get("accept", "")
        if tables.wants_table(accept):
            include = request.query.get("includeObject", "Metadata")
            return respond_json(tables.table(target.rt.plural, [entry], entry.rv, include))
        return respond(entry.raw())

    def _list(self, request: Request, target: Target) -> Response:
        query = request.query
        result = self.registry.list(
            target.rt,
            target.namespace,
            parse_label_selector(query.get("labelSelector")),
            parse_field_selector(query.get("fieldSelector"), target.rt.plural),
            _int(query.get("limit")),
            query.get("continue", ""),
            query.get("resourceVersion", ""),
            query.get("resourceVersionMatch", ""),
        )
        if tables.wants_table(request.headers.get("accept", "")):
            include = query.get("includeObject", "Metadata")
            doc = tables.table(
                target.rt.plural, result.items, result.rv, include, result.continue_token
            )
            return respond_json(doc)
        return respond(list_bytes(target.rt, result))

    def _binding(self, request: Request, target: Target) -> Response:
        if request.method != "POST" or target.name is not None:
            raise ApiError(405, f"{request.method} is not supported on bindings")
        body = self._body(request)
        name = ((body or {}).get("metadata") or {}).get("name", "")
        return self._bind(target.namespace or "", name, body)

    def _bind(self, namespace: str, name: str, body: Any) -> Response:
        self.registry.bind(namespace, name, body)
        success = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
        return respond_json({**success, "code": 201}, 201)

    def _post(self, target: Target, body: Any) -> Response:
        if target.subresource == "binding":
            assert target.name is not None
            return self._bind(target.namespace or "", target.name, body)
        if target.name is not None:
            raise ApiError(405, "POST requires a collection URL")
        entry = self.registry.create(target.rt, target.namespace, body)
        return respond(entry.raw(), 201)

    def _put(self, target: Target, body: Any) -> Response:
        assert target.name is not None
        if target.subresource == "scale":
            return respond_json(
                self.registry.update_scale(
                    target.rt, target.namespace or "", target.name, None, body
                )
            )
        if target.subresource not in ("", "status", "finalize"):
            raise ApiError(405, f"PUT is not supported on {target.subresource}")
        entry = self.registry.update(
            target.rt, target.namespace, target.name, body, target.subresource
        )
        return respond(entry.raw())

    def _patch(self, request: Request, target: Target, body: Any) -> Response:
        assert target.name is not None
        content_type = request.headers.get("content-type", "")
        if target.subresource == "scale":
            return respond_json(
                self.registry.update_scale(
                    target.rt, target.namespace or "", target.name, content_type, body
                )
            )
        if target.subresource not in ("", "status"):
            raise ApiError(405, f"PATCH is not supported on {target.subresource}")
        if content_type.startswith(APPLY_PATCH):
            manager = request.query.get("fieldManager", "")
            entry, created = self.registry.apply(
                target.rt, target.namespace, target.name, body, manager, target.subresource
            )
            return respond(entry.raw(), 201 if created else 200)
        entry = self.registry.patch(
            target.rt, target.namespace, target.name, content_type, body, target.subresource
        )
        return respond(entry.raw())

    def _delete_collection(self, request: Request, target: Target, body: Any) -> Response:
        query = request.query
        result = self.registry.list(
            target.rt,
            target.namespace,
            parse_label_selector(query.get("labelSelector")),
            parse_field_selector(query.get("fieldSelector"), target.rt.plural),
        )
        options = DeleteOptions.parse(body, query)
        deleted: list[Entry] = []
        for entry in result.items:
            meta = entry.meta
            deleted.append(
                self.registry.delete(target.rt, meta.get("namespace"), meta["name"], options)
            )
        return respond(list_bytes(target.rt, ListResult(deleted, self.registry.store.rv)))

    def _watch(self, request: Request, target: Target) -> Reply:
        """Open a watch (selectors and the starting point are checked before streaming)."""
        query = request.query
        watcher = Watcher(
            target.rt.plural,
            target.namespace,
            parse_label_selector(query.get("labelSelector")),
            parse_field_selector(query.get("fieldSelector"), target.rt.plural),
            table=query.get("includeObject", "Metadata")
            if tables.wants_table(request.headers.get("accept", ""))
            else "",
        )
        since = query.get("resourceVersion", "")
        initial = query.get("sendInitialEvents") in ("true", "1")
        try:
            self.hub.open(watcher, None if initial or since in ("", "0") else _int(since))
        except ApiError as error:
            return respond(error_line(error))
        if initial:
            watcher.push(self._bookmark(target.rt, initial_events_end=True))
        return self._serve_watch(request, watcher, target)

    async def _serve_watch(self, request: Request, watcher: Watcher, target: Target) -> None:
        stream = request.stream()
        stream.on_close(watcher.close)
        try:
            await self._stream(request, stream, watcher, target)
        finally:
            self.hub.remove(watcher)

    async def _stream(
        self, request: Request, stream: Stream, watcher: Watcher, target: Target
    ) -> None:
        loop = asyncio.get_running_loop()
        timeout = _int(request.query.get("timeoutSeconds")) or self.watch_timeout
        deadline = loop.time() + timeout
        bookmarks = request.query.get("allowWatchBookmarks") in ("true", "1")
        next_bookmark = loop.time() + self.bookmark_interval
        while True:
            if watcher.lines:
                chunk = b"".join(watcher.lines)
                watcher.lines.clear()
                stream.write(chunk)
                await stream.drain()
            if watcher.closed or stream.closed:
                break
            now = loop.time()
            if now >= deadline:
                break
            if bookmarks and now >= next_bookmark:
                watcher.push(self._bookmark(target.rt))
                next_bookmark = now + self.bookmark_interval
                continue
            wait = min(deadline, next_bookmark if bookmarks else deadline) - now
            watcher.wakeup.clear()
            if not watcher.lines and not watcher.closed:
                # Not wait_for: on Python 3.11 it swallows a cancel that lands in the tick
                # the wakeup comes (cpython#86296), and the stream would outlive shutdown.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await watcher.wakeup.wait()
        if watcher.aborted:
            stream.abort()
        else:
            stream.end()

    def _bookmark(self, rt: ResourceType, initial_events_end: bool = False) -> bytes:
        """A BOOKMARK; the one ending a sendInitialEvents stream carries the annotation
        client-go's watch-list waits for."""
        meta: dict[str, Any] = {"resourceVersion": str(self.registry.store.rv)}
        if initial_events_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        obj = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}
        return dumps({"type": "BOOKMARK", "object": obj}) + b"\n"


def _int(value: str | None) -> int:
    if not value:
        return 0
    try:
        return int(value)
    except ValueError as exc:
        raise bad_request(f"invalid integer {value!r}") from exc
