"""The fed.v1.Worker gRPC service: validation, routing to the cluster runtime, error mapping."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from common.status_codes import number
from fed.v1 import types_pb2, worker_pb2, worker_pb2_grpc
from worker import convert, metrics
from worker.agent import Agent
from worker.applier import Deadline, DeadlineExceeded, NotManaged, StaleEpoch
from worker.cluster import ClusterRuntime
from worker.estimator import estimate
from worker.kube_adapter import (
    KubeAlreadyExists,
    KubeConflict,
    KubeError,
    KubeForbidden,
    KubeNotFound,
    KubeRejected,
    KubeUnavailable,
)
from worker.manifest import Desired, ManifestError, WorkloadRef

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Handler = Callable[[Any, Req, grpc.aio.ServicerContext[Any, Any]], Awaitable[Resp]]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_RESERVED_PREFIX = "fed.io/"
MAX_BATCH_ITEMS = 1000
_BATCH_METHODS = {"apply": "Apply", "remove": "Remove", "status": "GetWorkloadStatus"}
_log = logging.getLogger(__name__)


class RpcFailure(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def invalid(field: str, why: str) -> RpcFailure:
    return RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{field}: {why}")


_KUBE_CODES: list[tuple[type[Exception], grpc.StatusCode]] = [
    (StaleEpoch, grpc.StatusCode.FAILED_PRECONDITION),
    (NotManaged, grpc.StatusCode.FAILED_PRECONDITION),
    (ManifestError, grpc.StatusCode.INVALID_ARGUMENT),
    (DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (KubeUnavailable, grpc.StatusCode.UNAVAILABLE),
    (KubeConflict, grpc.StatusCode.ABORTED),
    (KubeAlreadyExists, grpc.StatusCode.ABORTED),
    (KubeNotFound, grpc.StatusCode.FAILED_PRECONDITION),
    (KubeForbidden, grpc.StatusCode.FAILED_PRECONDITION),  # this cluster refuses, not the request
    (KubeRejected, grpc.StatusCode.INVALID_ARGUMENT),
    (KubeError, grpc.StatusCode.UNKNOWN),
]


def failure_of(exc: Exception) -> RpcFailure | None:
    if isinstance(exc, RpcFailure):
        return exc
    for kind, code in _KUBE_CODES:
        if isinstance(exc, kind):
            return RpcFailure(code, str(exc))
    return None


def rpc(method: Handler[Req, Resp]) -> Handler[Req, Resp]:
    """Time the call and turn the worker's exceptions into gRPC status codes."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Req, context: grpc.aio.ServicerContext[Any, Any]) -> Resp:
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            return await method(self, request, context)
        except Exception as exc:
            failure = failure_of(exc)
            if failure is None:
                code = grpc.StatusCode.INTERNAL
                raise
            code = failure.code
            await context.abort(failure.code, str(failure))
            raise
        finally:
            metrics.RPC_SECONDS.labels(method.__name__, code.name).observe(
                time.perf_counter() - started
            )

    return wrapper


def _check_cluster(cluster: str) -> None:
    if not cluster:
        raise invalid("cluster", "required")


def _check_resources(field: str, res: types_pb2.Resources) -> None:
    for name in ("cpu_millis", "memory_bytes", "gpu", "pods"):
        if getattr(res, name) < 0:
            raise invalid(f"{field}.{name}", "must not be negative")


def _check_ref(namespace: str, name: str, reservation: str = "", epoch: int = 0) -> None:
    if not _DNS_LABEL.match(namespace):
        raise invalid("namespace", f"{namespace!r} is not a DNS-1123 label")
    if not name or not _DNS_SUBDOMAIN.match(name):
        raise invalid("name", f"{name!r} is not a DNS-1123 subdomain")
    if not _LABEL_VALUE.match(reservation):
        raise invalid("reservation_id", f"{reservation!r} is not a valid label value")
    if epoch < 0:
        raise invalid("epoch", "must not be negative")


def _check_estimate(request: worker_pb2.EstimateRequest) -> None:
    _check_cluster(request.cluster)
    _check_resources("per_replica", request.per_replica)
    if request.limit < 0:
        raise invalid("limit", "must not be negative")
    for index, assumed in enumerate(request.assumed):
        if assumed.replicas < 0:
            raise invalid(f"assumed[{index}].replicas", "must not be negative")
        _check_resources(f"assumed[{index}].per_replica", assumed.per_replica)


def _check_apply(request: worker_pb2.ApplyRequest) -> None:
    _check_cluster(request.cluster)
    _check_ref(request.namespace, request.name, request.reservation_id, request.epoch)
    if request.replicas < 0:
        raise invalid("replicas", "must not be negative")
    _check_resources("per_replica", request.per_replica)
    for key in request.labels:
        if key.startswith(_RESERVED_PREFIX):
            raise invalid(f"labels[{key}]", f"the {_RESERVED_PREFIX} prefix is reserved")


def _deadline(context: grpc.aio.ServicerContext[Any, Any]) -> Deadline:
    return Deadline.after(context.time_remaining())


class WorkerService(worker_pb2_grpc.WorkerServicer):
    def __init__(self, agent: Agent) -> None:
        self._agent = agent

    @property
    def worker_id(self) -> str:
        return self._agent.worker_id

    def _runtime(self, cluster: str, synced: bool = False) -> ClusterRuntime:
        _check_cluster(cluster)
        slot = self._agent.slot(cluster)
        if slot is None:
            # UNAVAILABLE, not FAILED_PRECONDITION: assignments move, the caller tries another
            # worker (a refusal would make the proxy re-place the workload elsewhere)
            raise RpcFailure(
                grpc.StatusCode.UNAVAILABLE,
                f"cluster {cluster} is not assigned to worker {self.worker_id}",
            )
        runtime = slot.runtime
        if runtime is None:
            raise RpcFailure(grpc.StatusCode.UNAVAILABLE, slot.error)
        if synced and not runtime.cache.synced:
            last = runtime.stats.figures().last_error or "still listing"
            raise RpcFailure(
                grpc.StatusCode.UNAVAILABLE,
                f"cluster {cluster}: cache not synced yet ({last})",
            )
        return runtime

    @rpc
    async def Estimate(
        self, request: worker_pb2.EstimateRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> worker_pb2.EstimateResponse:
        _check_estimate(request)
        runtime = self._runtime(request.cluster, synced=True)
        result = estimate(
            runtime.cache, convert.shape(request), convert.assumed(request), request.limit
        )
        return worker_pb2.EstimateResponse(
            cluster=request.cluster,
            max_replicas=result.max_replicas,
            nodes_considered=result.nodes_considered,
            cache_generation=result.generation,
            worker_id=self.worker_id,
        )

    @rpc
    async def Apply(
        self, request: worker_pb2.ApplyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> worker_pb2.ApplyResponse:
        return await self._apply(request, _deadline(context))

    @rpc
    async def Remove(
        self, request: worker_pb2.RemoveRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> worker_pb2.RemoveResponse:
        return await self._remove(request, _deadline(context))

    @rpc
    async def GetWorkloadStatus(
        self,
        request: worker_pb2.GetWorkloadStatusRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> worker_pb2.WorkloadStatus:
        return await self._status(request, _deadline(context))

    @rpc
    async def Batch(
        self, request: worker_pb2.BatchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> worker_pb2.BatchResponse:
        if len(request.items) > MAX_BATCH_ITEMS:
            raise invalid("items", f"at most {MAX_BATCH_ITEMS} per batch")
        deadline = _deadline(context)
        results = await asyncio.gather(
            *(self._batch_item(index, item, deadline) for index, item in enumerate(request.items))
        )
        return worker_pb2.BatchResponse(results=results)

    async def _batch_item(
        self, index: int, item: worker_pb2.BatchItem, deadline: Deadline
    ) -> worker_pb2.BatchResult:
        """One item, answered as its unary call would be (and timed under that call's name)."""
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        kind = item.WhichOneof("call")
        method = _BATCH_METHODS.get(kind or "", "Batch")
        try:
            if kind == "apply":
                result = worker_pb2.BatchResult(apply=await self._apply(item.apply, deadline))
            elif kind == "remove":
                result = worker_pb2.BatchResult(remove=await self._remove(item.remove, deadline))
            elif kind == "status":
                result = worker_pb2.BatchResult(status=await self._status(item.status, deadline))
            else:
                raise invalid(f"items[{index}]", "names no call")
        except Exception as exc:
            failure = failure_of(exc)
            if failure is None:
                _log.exception("batch item failed", extra={"method": method})
                failure = RpcFailure(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")
            code = failure.code
            result = worker_pb2.BatchResult(code=number(code), message=str(failure))
        metrics.RPC_SECONDS.labels(method, code.name).observe(time.perf_counter() - started)
        return result

    async def _apply(
        self, request: worker_pb2.ApplyRequest, deadline: Deadline
    ) -> worker_pb2.ApplyResponse:
        _check_apply(request)
        runtime = self._runtime(request.cluster)
        desired = Desired(
            WorkloadRef(request.namespace, request.name, request.reservation_id, request.epoch),
            request.replicas,
            convert.res(request.per_replica),
            request.template_json,
            dict(request.labels),
        )
        outcome = await runtime.applier.apply(desired, deadline)
        return worker_pb2.ApplyResponse(
            cluster=request.cluster,
            deployment=outcome.deployment,
            created=outcome.created,
            replicas=outcome.replicas,
            resource_version=outcome.resource_version,
        )

    async def _remove(
        self, request: worker_pb2.RemoveRequest, deadline: Deadline
    ) -> worker_pb2.RemoveResponse:
        _check_cluster(request.cluster)
        _check_ref(request.namespace, request.name, request.reservation_id, request.epoch)
        runtime = self._runtime(request.cluster)
        ref = WorkloadRef(request.namespace, request.name, request.reservation_id, request.epoch)
        deleted = await runtime.applier.remove(ref, deadline)
        return worker_pb2.RemoveResponse(cluster=request.cluster, deleted=deleted)

    async def _status(
        self, request: worker_pb2.GetWorkloadStatusRequest, deadline: Deadline
    ) -> worker_pb2.WorkloadStatus:
        _check_cluster(request.cluster)
        _check_ref(request.namespace, request.name, request.reservation_id)
        runtime = self._runtime(request.cluster)
        ref = WorkloadRef(request.namespace, request.name, request.reservation_id, 0)
        deployment = await runtime.applier.status(ref, deadline)
        counts = runtime.cache.totals.workloads.get(ref.label)
        pods = counts.pods if counts is not None else 0
        if deployment is None:
            return worker_pb2.WorkloadStatus(
                cluster=request.cluster, exists=False, pods=pods, message="no such deployment"
            )
        return worker_pb2.WorkloadStatus(
            cluster=request.cluster,
            exists=True,
            desired=deployment.replicas,
            ready=deployment.ready,
            available=deployment.available,
            pods=pods,
            message=f"{deployment.ready}/{deployment.replicas} ready",
        )

    @rpc
    async def GetClusterSnapshot(
        self,
        request: worker_pb2.GetClusterSnapshotRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> worker_pb2.ClusterSnapshot:
        runtime = self._runtime(request.cluster, synced=True)
        cache = runtime.cache
        snapshot = worker_pb2.ClusterSnapshot(
            status=runtime.publisher.build(),
            pods_total=len(cache.pods),
            pods_federated=sum(w.pods for w in cache.totals.workloads.values()),
        )
        if request.include_nodes:
            usage = runtime.usage.view.nodes
            snapshot.nodes.extend(
                convert.node_info(s.node, s.requested, usage.get(name), s.pods)
                for name, s in sorted(cache.nodes.items())
            )
        return snapshot
