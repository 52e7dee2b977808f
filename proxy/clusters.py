"""Cluster admin calls on the leader: register, cordon, uncordon, remove.

Registration validates the kubeconfig by reaching the cluster's `/version` (bearer token
and CA data are honoured; client-certificate credentials are taken on trust). Every call
is exactly-once by request_id: its answer is committed with its effect.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import grpc
import yaml
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from common.election import Leadership
from common.etcd_store import Compare, Delete, Op, Put
from common.keys import Keys
from fed.v1 import federation_pb2, types_pb2
from proxy.cache import FedCache
from proxy.errors import ApiError, check_name, check_request_id, invalid, not_found
from proxy.requests import RequestIdReused, RequestLog, digest

_PROBE_TIMEOUT_S = 5.0


class ClusterAdmin:
    def __init__(
        self,
        leadership: Leadership,
        keys: Keys,
        cache: FedCache,
        requests: RequestLog,
        info: Callable[[str], federation_pb2.ClusterInfo],
        drain: Callable[[str, str], Awaitable[types_pb2.Operation]],
    ) -> None:
        self._leadership = leadership
        self._keys = keys
        self._cache = cache
        self._requests = requests
        self._info = info
        self._drain = drain

    async def register(self, request: federation_pb2.RegisterClusterRequest) -> Message:
        return await self._exactly_once("RegisterCluster", request, self._register)

    async def cordon(self, request: federation_pb2.CordonClusterRequest) -> Message:
        return await self._exactly_once("CordonCluster", request, self._cordon)

    async def uncordon(self, request: federation_pb2.UncordonClusterRequest) -> Message:
        return await self._exactly_once("UncordonCluster", request, self._uncordon)

    async def remove(self, request: federation_pb2.RemoveClusterRequest) -> Message:
        if request.drain:
            return await self._remove_after_drain(request)
        return await self._exactly_once("RemoveCluster", request, self._remove)

    async def _remove_after_drain(self, request: federation_pb2.RemoveClusterRequest) -> Message:
        """Start a drain that removes the cluster when it is empty (exactly once by the
        operation's request_id)."""
        check_request_id(request.request_id)
        check_name("name", request.name)
        if self._spec(request.name) is None:
            raise not_found(f"cluster {request.name}")
        operation = await self._drain(request.name, request.request_id)
        return federation_pb2.RemoveClusterResponse(
            cluster=self._info(request.name), operation_id=operation.id
        )

    async def _exactly_once(
        self,
        method: str,
        request: Any,
        act: Callable[[Any], Awaitable[tuple[list[Op], list[Compare], Message]]],
    ) -> Message:
        check_request_id(request.request_id)
        request_digest = digest(method, request)
        answer = await self._recorded(request.request_id, method, request_digest)
        if answer is not None:
            return answer
        ops, compares, response = await act(request)
        if not ops:
            return response
        await self._requests.refresh_lease()
        ops.append(self._requests.record(request.request_id, method, request_digest, response))
        result = await self._leadership.txn(ops, compares)
        if not result.succeeded:
            # The store retries a txn whose reply was lost; if the first try was applied, the
            # retry fails its compare against that very change: the answer is recorded.
            answer = await self._recorded(request.request_id, method, request_digest)
            if answer is None:
                raise ApiError(grpc.StatusCode.ABORTED, f"{method} raced another change; retry")
            return answer
        await self._cache.wait_for_revision(result.revision, timeout_s=5)
        return response

    async def _recorded(
        self, request_id: str, method: str, request_digest: bytes
    ) -> Message | None:
        """The answer recorded for this request id, if any (ALREADY_EXISTS when the id was
        used for another request)."""
        try:
            answer = await self._requests.answer(request_id, method, request_digest)
        except RequestIdReused as error:
            raise ApiError(grpc.StatusCode.ALREADY_EXISTS, str(error)) from error
        return None if answer is None else _response_type(method).FromString(answer)

    async def _register(
        self, request: federation_pb2.RegisterClusterRequest
    ) -> tuple[list[Op], list[Compare], Message]:
        spec = types_pb2.ClusterSpec()
        spec.CopyFrom(request.spec)
        check_name("spec.name", spec.name)
        if not spec.kubeconfig:
            raise invalid("spec.kubeconfig", "required")
        spec.endpoint = spec.endpoint or _server_of(spec.kubeconfig)
        existing = self._spec(spec.name)
        if existing is not None:
            if _registration_view(existing) != _registration_view(spec):
                raise ApiError(
                    grpc.StatusCode.ALREADY_EXISTS,
                    f"cluster {spec.name} is registered with a different spec",
                )
            return [], [], self._info(spec.name)
        await probe(spec.endpoint, spec.kubeconfig)
        spec.state = types_pb2.ADMIN_STATE_ACTIVE
        spec.registered_at.CopyFrom(_now())
        key = self._keys.cluster_spec(spec.name)
        ops: list[Op] = [Put(key, spec.SerializeToString())]
        return ops, [Compare.absent(key)], _info_of(spec)

    async def _cordon(
        self, request: federation_pb2.CordonClusterRequest
    ) -> tuple[list[Op], list[Compare], Message]:
        return self._set_state(request.name, types_pb2.ADMIN_STATE_CORDONED, request.reason)

    async def _uncordon(
        self, request: federation_pb2.UncordonClusterRequest
    ) -> tuple[list[Op], list[Compare], Message]:
        return self._set_state(request.name, types_pb2.ADMIN_STATE_ACTIVE, "")

    def _set_state(
        self, name: str, state: types_pb2.AdminState.ValueType, reason: str
    ) -> tuple[list[Op], list[Compare], Message]:
        check_name("name", name)
        existing = self._spec(name)
        if existing is None:
            raise not_found(f"cluster {name}")
        if existing.state == types_pb2.ADMIN_STATE_REMOVING:
            raise ApiError(grpc.StatusCode.FAILED_PRECONDITION, f"cluster {name} is being removed")
        spec = types_pb2.ClusterSpec()
        spec.CopyFrom(existing)
        spec.state = state
        spec.state_reason = reason
        ops: list[Op] = [Put(self._keys.cluster_spec(name), spec.SerializeToString())]
        info = self._info(name)
        info.spec.CopyFrom(public_spec(spec))
        return ops, [], info

    async def _remove(
        self, request: federation_pb2.RemoveClusterRequest
    ) -> tuple[list[Op], list[Compare], Message]:
        check_name("name", request.name)
        existing = self._spec(request.name)
        if existing is None:
            raise not_found(f"cluster {request.name}")
        held = self._cache.view.reservations.get(request.name, {})
        if held and not request.force:
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"cluster {request.name} still holds {len(held)} reservations; "
                "remove it with drain to move them first, or with force",
            )
        info = self._info(request.name)
        ops: list[Op] = [
            Delete(self._keys.cluster_spec(request.name)),
            Delete(self._keys.cluster_status(request.name)),
            Delete(self._keys.cluster_health(request.name)),
        ]
        return ops, [], federation_pb2.RemoveClusterResponse(cluster=info)

    def _spec(self, name: str) -> types_pb2.ClusterSpec | None:
        entry = self._cache.view.clusters.get(name)
        return entry.spec if entry is not None else None


async def probe(endpoint: str, kubeconfig: str) -> None:
    """Reach the cluster's /version with the kubeconfig's credentials (FAILED_PRECONDITION)."""
    token, ca_data = _credentials(kubeconfig)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    ssl_context: ssl.SSLContext | bool = True
    if ca_data:
        ssl_context = ssl.create_default_context(cadata=base64.b64decode(ca_data).decode())
    timeout = aiohttp.ClientTimeout(total=_PROBE_TIMEOUT_S)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"{endpoint.rstrip('/')}/version", headers=headers, ssl=ssl_context) as r,
        ):
            if r.status != 200:
                raise ApiError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"cluster API at {endpoint} answered /version with HTTP {r.status}",
                )
    except (aiohttp.ClientError, TimeoutError, ssl.SSLError) as error:
        raise ApiError(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"cannot reach the cluster API at {endpoint}: {error}",
        ) from error


def _kubeconfig(document: str) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(document)
    except yaml.YAMLError as error:
        raise invalid("spec.kubeconfig", f"not YAML: {error}") from error
    if not isinstance(loaded, dict) or not loaded.get("clusters"):
        raise invalid("spec.kubeconfig", "no clusters in the kubeconfig")
    return loaded


def _current(config: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    for item in config.get(kind) or []:
        if not name or item.get("name") == name:
            return dict(item.get(kind[:-1]) or {})
    return {}


def _context(config: dict[str, Any]) -> dict[str, Any]:
    return _current(config, "contexts", config.get("current-context", ""))


def _server_of(kubeconfig: str) -> str:
    config = _kubeconfig(kubeconfig)
    server = _current(config, "clusters", _context(config).get("cluster", "")).get("server")
    if not server:
        raise invalid("spec.kubeconfig", "the current context's cluster has no server")
    return str(server)


def _credentials(kubeconfig: str) -> tuple[str, str]:
    config = _kubeconfig(kubeconfig)
    context = _context(config)
    cluster = _current(config, "clusters", context.get("cluster", ""))
    user = _current(config, "users", context.get("user", ""))
    return str(user.get("token", "")), str(cluster.get("certificate-authority-data", ""))


def _registration_view(spec: types_pb2.ClusterSpec) -> types_pb2.ClusterSpec:
    """What a repeated registration must match (state and timestamps are the federation's)."""
    view = types_pb2.ClusterSpec()
    view.CopyFrom(spec)
    view.ClearField("state")
    view.ClearField("state_reason")
    view.ClearField("registered_at")
    return view


def public_spec(spec: types_pb2.ClusterSpec) -> types_pb2.ClusterSpec:
    """The spec as the API returns it: credentials are never sent back."""
    shown = types_pb2.ClusterSpec()
    shown.CopyFrom(spec)
    shown.ClearField("kubeconfig")
    return shown


def _info_of(spec: types_pb2.ClusterSpec) -> federation_pb2.ClusterInfo:
    return federation_pb2.ClusterInfo(spec=public_spec(spec))


def _response_type(method: str) -> type[Message]:
    types: dict[str, type[Message]] = {
        "RegisterCluster": federation_pb2.ClusterInfo,
        "CordonCluster": federation_pb2.ClusterInfo,
        "UncordonCluster": federation_pb2.ClusterInfo,
        "RemoveCluster": federation_pb2.RemoveClusterResponse,
    }
    return types[method]


def _now() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp
