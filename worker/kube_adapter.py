"""The one module that imports `kubernetes`: requests to one member cluster, as plain data.

Every blocking call of the official client runs in a bounded thread pool; watch streams run
in a second pool (each holds its thread while open). Responses are read raw
(`_preload_content=False`) and decoded into the dataclasses of `worker.model`, which is much
faster than the client's model deserialisation on clusters with tens of thousands of pods.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.utils import parse_quantity as _parse_quantity
from kubernetes.watch.watch import iter_resp_lines as _iter_resp_lines

from worker.apistats import ApiStats
from worker.model import (
    RESERVATION_LABEL,
    WORKLOAD_LABEL,
    Deployment,
    EventType,
    Listing,
    Node,
    Pod,
    Res,
    Taint,
    WatchEvent,
)

T = TypeVar("T")
parse_quantity: Callable[[str], Any] = _parse_quantity
iter_resp_lines: Callable[[Any], Iterator[str]] = _iter_resp_lines
load_kube_config_from_dict: Callable[..., None] = config.load_kube_config_from_dict
GPU_RESOURCE = "nvidia.com/gpu"
_END = object()


class KubeError(Exception):
    """A Kubernetes request failed; `status` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class KubeUnavailable(KubeError):
    """No answer, a timeout or a server error: the cluster may be down."""


class KubeGone(KubeError):
    """410: the resourceVersion left the server's history; re-list."""


class KubeConflict(KubeError):
    """409 on an update: the object changed since it was read."""


class KubeAlreadyExists(KubeError):
    """409 on a create."""


class KubeNotFound(KubeError):
    """404."""


class KubeRejected(KubeError):
    """Another 4xx: the request itself is wrong (400 BadRequest, 422 Invalid)."""


class KubeForbidden(KubeRejected):
    """403: this cluster refuses (RBAC, an exceeded ResourceQuota, an admission rule, a
    terminating namespace); another cluster may well accept the same request."""


class KubeConfigError(ValueError):
    """The kubeconfig document cannot be used."""


@dataclass(frozen=True)
class AdapterOptions:
    threads: int = 16
    page_size: int = 500
    watch_timeout_s: int = 120
    default_timeout_s: float = 10.0


@functools.lru_cache(maxsize=4096)
def _quantity(text: str) -> float:
    return float(parse_quantity(text))


def milli(value: Any) -> int:
    return round(_quantity(str(value)) * 1000) if value not in (None, "") else 0


def whole(value: Any) -> int:
    return round(_quantity(str(value))) if value not in (None, "") else 0


def _error_from_status(status: int, reason: str) -> KubeError:
    if status == 410:
        return KubeGone(reason, status)
    if status == 404:
        return KubeNotFound(reason, status)
    if status == 409:
        kind = KubeAlreadyExists if "AlreadyExists" in reason else KubeConflict
        return kind(reason, status)
    if status in (0, 429) or status >= 500:
        return KubeUnavailable(reason, status)
    if status == 403:
        return KubeForbidden(reason, status)
    return KubeRejected(reason, status)


def _api_error(exc: ApiException) -> KubeError:
    body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else exc.body
    reason = str(exc.reason or "")
    message = reason
    if body:
        try:
            status = json.loads(body)
            message = f"{status.get('reason', reason)}: {status.get('message', body)}"
        except ValueError:
            message = f"{reason}: {body[:300]}"
    return _error_from_status(int(exc.status or 0), message)


def _translate(exc: Exception) -> KubeError:
    if isinstance(exc, KubeError):
        return exc
    if isinstance(exc, ApiException):
        return _api_error(exc)
    return KubeUnavailable(f"{type(exc).__name__}: {exc}")


_FAILURES = (ApiException, urllib3.exceptions.HTTPError, OSError, KubeError)


def parse_node(obj: dict[str, Any]) -> Node:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    alloc = status.get("allocatable") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or ()
    )
    taints = tuple(
        Taint(str(t.get("key", "")), str(t.get("value", "") or ""), str(t.get("effect", "")))
        for t in spec.get("taints") or ()
    )
    return Node(
        name=str(meta.get("name", "")),
        ready=ready,
        unschedulable=bool(spec.get("unschedulable")),
        labels=dict(meta.get("labels") or {}),
        taints=taints,
        allocatable=Res(
            milli(alloc.get("cpu")),
            whole(alloc.get("memory")),
            whole(alloc.get(GPU_RESOURCE)),
            whole(alloc.get("pods", 110)),
        ),
    )


def _container_requests(container: dict[str, Any]) -> Res:
    requests = (container.get("resources") or {}).get("requests") or {}
    return Res(
        milli(requests.get("cpu")),
        whole(requests.get("memory")),
        whole(requests.get(GPU_RESOURCE)),
        0,
    )


def pod_requests(spec: dict[str, Any]) -> Res:
    """The sum over containers, init containers as a maximum (what the scheduler counts)."""
    total = Res(pods=1)
    for container in spec.get("containers") or ():
        total = total + _container_requests(container)
    for container in spec.get("initContainers") or ():
        init = _container_requests(container)
        total = Res(
            max(total.cpu, init.cpu), max(total.memory, init.memory), max(total.gpu, init.gpu), 1
        )
    return total


def parse_pod(obj: dict[str, Any]) -> Pod:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    labels = meta.get("labels") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or ()
    )
    return Pod(
        key=f"{meta.get('namespace', '')}/{meta.get('name', '')}",
        node=str(spec.get("nodeName") or ""),
        phase=str(status.get("phase") or "Pending"),
        requests=pod_requests(spec),
        workload=str(labels.get(WORKLOAD_LABEL, "")),
        reservation=str(labels.get(RESERVATION_LABEL, "")),
        ready=ready,
    )


def parse_deployment(obj: dict[str, Any]) -> Deployment:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    return Deployment(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        replicas=int(spec.get("replicas", 1)),
        ready=int(status.get("readyReplicas", 0)),
        available=int(status.get("availableReplicas", 0)),
        resource_version=str(meta.get("resourceVersion", "")),
        manifest=obj,
    )


PARSERS: dict[str, Callable[[dict[str, Any]], Node | Pod | Deployment]] = {
    "nodes": parse_node,
    "pods": parse_pod,
    "deployments": parse_deployment,
}


def load_configuration(kubeconfig: str, threads: int) -> client.Configuration:
    try:
        document = yaml.safe_load(kubeconfig)
    except yaml.YAMLError as exc:
        raise KubeConfigError(f"kubeconfig is not YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise KubeConfigError("kubeconfig must be a mapping")
    configuration = client.Configuration()
    try:
        load_kube_config_from_dict(
            document, client_configuration=configuration, persist_config=False
        )
    except (config.ConfigException, KeyError, TypeError, ValueError) as exc:
        raise KubeConfigError(f"kubeconfig cannot be loaded: {exc}") from exc
    configuration.connection_pool_maxsize = threads
    return configuration


class WatchStream:
    """One watch of nodes or pods from a resourceVersion, as an async iterator of events.

    A thread of the watch pool reads the HTTP stream and hands events to the loop. The
    iteration ends when the server ends the watch; errors (410 included) are raised.
    """

    def __init__(self, adapter: KubeAdapter, kind: str, resource_version: str) -> None:
        self._adapter = adapter
        self._kind = kind
        self._rv = resource_version
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._response: Any = None
        self._closed = threading.Event()
        self._future = self._loop.run_in_executor(adapter.watch_pool, self._run)

    def __aiter__(self) -> WatchStream:
        return self

    async def __anext__(self) -> WatchEvent:
        item = await self._queue.get()
        if item is _END:
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        assert isinstance(item, WatchEvent)
        return item

    def close(self) -> None:
        self._closed.set()
        self._shutdown()

    def _shutdown(self) -> None:
        """Cut the stream's socket so that the reading thread returns at once."""
        response = self._response
        if response is not None:
            with contextlib.suppress(ValueError, RuntimeError, OSError):
                response.shutdown()

    def _emit(self, item: object) -> None:
        if self._loop.is_closed():
            return
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:
            self._closed.set()

    def _run(self) -> None:
        try:
            self._response = self._adapter.open_watch(self._kind, self._rv)
            if self._closed.is_set():
                self._shutdown()
            for line in iter_resp_lines(self._response):
                if self._closed.is_set():
                    break
                if line:
                    self._emit(self._event(json.loads(line)))
            self._emit(_END)
        except Exception as exc:
            self._emit(_END if self._closed.is_set() else _translate(exc))
        finally:
            if self._response is not None:
                self._response.release_conn()

    def _event(self, raw: dict[str, Any]) -> WatchEvent:
        kind = str(raw.get("type", ""))
        obj = raw.get("object") or {}
        if kind == "ERROR":
            raise _error_from_status(int(obj.get("code", 0)), str(obj.get("message", "")))
        rv = str((obj.get("metadata") or {}).get("resourceVersion", ""))
        if kind == "BOOKMARK":
            return WatchEvent(EventType.BOOKMARK, rv, None)
        return WatchEvent(EventType(kind), rv, PARSERS[self._kind](obj))


class KubeAdapter:
    """Requests to one cluster through the official client, off the event loop."""

    def __init__(
        self,
        kubeconfig: str,
        stats: ApiStats,
        options: AdapterOptions,
        pool: ThreadPoolExecutor,
        watch_pool: ThreadPoolExecutor,
    ) -> None:
        self._api = client.ApiClient(load_configuration(kubeconfig, options.threads))
        self._core = client.CoreV1Api(self._api)
        self._apps = client.AppsV1Api(self._api)
        self._custom = client.CustomObjectsApi(self._api)
        self.stats = stats
        self.options = options
        self.pool = pool
        self.watch_pool = watch_pool

    @property
    def host(self) -> str:
        return str(self._api.configuration.host)

    def close(self) -> None:
        self._api.rest_client.pool_manager.clear()

    # ------------------------------------------------------------ plumbing

    def _timeout(self, timeout_s: float | None) -> float:
        return max(0.05, self.options.default_timeout_s if timeout_s is None else timeout_s)

    def _timed(self, fn: Callable[[], T]) -> T:
        """Run `fn` in this thread, recording its latency and outcome."""
        started = time.perf_counter()
        try:
            result = fn()
        except _FAILURES as exc:
            error = _translate(exc)
            reached = not isinstance(error, KubeUnavailable) or error.status != 0
            self.stats.record(time.perf_counter() - started, False, str(error), reached)
            raise error from exc
        self.stats.record(time.perf_counter() - started, True)
        return result

    async def _run(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self._timed, fn)

    @staticmethod
    def _json(response: Any) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(response.data)
        finally:
            response.release_conn()
        return data

    # ---------------------------------------------------------- list/watch

    def _list_call(self, kind: str) -> Callable[..., Any]:
        if kind == "nodes":
            return self._core.list_node
        if kind == "deployments":  # the federation's only
            return functools.partial(
                self._apps.list_deployment_for_all_namespaces, label_selector=WORKLOAD_LABEL
            )
        return self._core.list_pod_for_all_namespaces

    def _list_page(self, kind: str, token: str, timeout: float) -> tuple[list[Any], str, str]:
        """One page, decoded in the calling thread: (items, resourceVersion, continue)."""
        call = self._list_call(kind)
        page = self._json(
            call(
                limit=self.options.page_size,
                _continue=token or None,
                _preload_content=False,
                _request_timeout=timeout,
            )
        )
        parse = PARSERS[kind]
        meta = page.get("metadata") or {}
        items = [parse(obj) for obj in page.get("items") or ()]
        return items, str(meta.get("resourceVersion", "")), str(meta.get("continue") or "")

    async def list(self, kind: str, timeout_s: float | None = None) -> Listing:
        """Every object of the kind, paginated at one consistent resourceVersion."""
        items: list[Any] = []
        token = ""
        while True:
            page, rv, token = await self._run(
                functools.partial(self._list_page, kind, token, self._timeout(timeout_s))
            )
            items.extend(page)
            if not token:
                return Listing(items, rv)

    def open_watch(self, kind: str, resource_version: str) -> Any:
        """Blocking: start a watch and return the raw streaming response."""
        timeout = self.options.watch_timeout_s
        call = self._list_call(kind)
        return self._timed(
            lambda: call(
                watch=True,
                resource_version=resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=timeout,
                _preload_content=False,
                _request_timeout=(self.options.default_timeout_s, timeout + 15),
            )
        )

    def watch(self, kind: str, resource_version: str) -> WatchStream:
        return WatchStream(self, kind, resource_version)

    # -------------------------------------------------------------- metrics

    def _node_metrics(self, timeout: float) -> dict[str, Any]:
        response = self._custom.list_cluster_custom_object(
            "metrics.k8s.io",
            "v1beta1",
            "nodes",
            _preload_content=False,
            _request_timeout=timeout,
        )
        return self._json(response)

    async def node_usage(self, timeout_s: float | None = None) -> dict[str, Res] | None:
        """Per-node usage from metrics.k8s.io; None when the cluster does not serve it."""
        try:
            doc = await self._run(functools.partial(self._node_metrics, self._timeout(timeout_s)))
        except KubeNotFound:
            return None
        usage: dict[str, Res] = {}
        for item in doc.get("items") or ():
            values = item.get("usage") or {}
            name = str((item.get("metadata") or {}).get("name", ""))
            usage[name] = Res(milli(values.get("cpu")), whole(values.get("memory")))
        return usage

    # ---------------------------------------------------------- deployments

    async def get_deployment(
        self, namespace: str, name: str, timeout_s: float | None = None
    ) -> Deployment | None:
        timeout = self._timeout(timeout_s)
        try:
            doc = await self._run(
                lambda: self._json(
                    self._apps.read_namespaced_deployment(
                        name, namespace, _preload_content=False, _request_timeout=timeout
                    )
                )
            )
        except KubeNotFound:
            return None
        return parse_deployment(doc)

    async def create_deployment(
        self, namespace: str, manifest: dict[str, Any], timeout_s: float | None = None
    ) -> Deployment:
        timeout = self._timeout(timeout_s)
        doc = await self._run(
            lambda: self._json(
                self._apps.create_namespaced_deployment(
                    namespace, cast(Any, manifest), _preload_content=False, _request_timeout=timeout
                )
            )
        )
        return parse_deployment(doc)

    async def replace_deployment(
        self, namespace: str, name: str, manifest: dict[str, Any], timeout_s: float | None = None
    ) -> Deployment:
        """PUT with the manifest's resourceVersion: KubeConflict when it moved meanwhile."""
        timeout = self._timeout(timeout_s)
        doc = await self._run(
            lambda: self._json(
                self._apps.replace_namespaced_deployment(
                    name,
                    namespace,
                    cast(Any, manifest),
                    _preload_content=False,
                    _request_timeout=timeout,
                )
            )
        )
        return parse_deployment(doc)

    async def delete_deployment(
        self, namespace: str, name: str, timeout_s: float | None = None
    ) -> bool:
        """Delete (pods follow in the background); False when it was already gone."""
        timeout = self._timeout(timeout_s)
        try:
            await self._run(
                lambda: self._json(
                    self._apps.delete_namespaced_deployment(
                        name,
                        namespace,
                        propagation_policy="Background",
                        _preload_content=False,
                        _request_timeout=timeout,
                    )
                )
            )
        except KubeNotFound:
            return False
        return True

    async def ensure_namespace(self, namespace: str, timeout_s: float | None = None) -> None:
        timeout = self._timeout(timeout_s)
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        try:
            await self._run(
                lambda: self._json(
                    self._core.create_namespace(
                        cast(Any, body), _preload_content=False, _request_timeout=timeout
                    )
                )
            )
        except KubeAlreadyExists:
            return
