"""A typed, leader-agnostic client of fed.v1.Federation.

Any replica answers reads and forwards writes, so the client talks to whichever replica
answers; when one is unreachable (UNAVAILABLE) it moves to the next. Mutating calls carry a
request_id (generated once per call when the caller gives none) and are retried with that
same id until the retry deadline, so a retry never has a second effect.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any, Self, TypeVar

import grpc
from google.protobuf.message import Message

from common import retry
from common.settings import RetrySettings
from fed.v1 import federation_pb2, federation_pb2_grpc, types_pb2

R = TypeVar("R", bound=Message)
_RETRYABLE = (grpc.StatusCode.UNAVAILABLE,)


class FederationError(Exception):
    """A call failed: the gRPC status code name and the server's message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


class _Unavailable(Exception):
    def __init__(self, error: grpc.aio.AioRpcError) -> None:
        super().__init__(error.details())
        self.error = error


class FederationClient:
    def __init__(
        self,
        servers: Sequence[str],
        *,
        timeout_s: float = 10.0,
        retry_deadline_s: float = 30.0,
        retry_policy: RetrySettings | None = None,
    ) -> None:
        if not servers:
            raise ValueError("at least one proxy address is needed")
        self.servers = list(servers)
        self.timeout_s = timeout_s
        self.retry_deadline_s = retry_deadline_s
        self._retry_policy = retry_policy or RetrySettings(attempts=1000, max_backoff_s=0.5)
        options = retry.channel_options(self._retry_policy)
        self._channels = [
            grpc.aio.insecure_channel(address, options=options) for address in self.servers
        ]
        self._stubs = [federation_pb2_grpc.FederationStub(ch) for ch in self._channels]
        self._next = 0

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()

    async def call(self, method: str, request: Message, *, timeout_s: float | None = None) -> Any:
        """Call `method` on any replica; UNAVAILABLE moves on to the next until the deadline."""
        try:
            async for attempt in retry.transient(
                self._retry_policy,
                [_Unavailable],
                deadline_s=self.retry_deadline_s,
                log_retries=False,
            ):
                with attempt:
                    return await self._once(method, request, timeout_s or self.timeout_s)
        except _Unavailable as unavailable:
            error = unavailable.error
            raise FederationError(error.code(), error.details() or "unavailable") from error
        raise AssertionError("unreachable")

    async def _once(self, method: str, request: Message, timeout_s: float) -> Any:
        index = self._next % len(self._stubs)
        try:
            return await getattr(self._stubs[index], method)(request, timeout=timeout_s)
        except grpc.aio.AioRpcError as error:
            if error.code() in _RETRYABLE:
                self._next = index + 1
                raise _Unavailable(error) from error
            raise FederationError(error.code(), error.details() or "") from error

    # ---------------------------------------------------------- workloads

    async def place(
        self, spec: types_pb2.WorkloadSpec, request_id: str = ""
    ) -> federation_pb2.PlaceWorkloadResponse:
        request = federation_pb2.PlaceWorkloadRequest(request_id=_id(request_id), spec=spec)
        response: federation_pb2.PlaceWorkloadResponse = await self.call("PlaceWorkload", request)
        return response

    async def scale(
        self, namespace: str, name: str, replicas: int, request_id: str = ""
    ) -> federation_pb2.ScaleWorkloadResponse:
        request = federation_pb2.ScaleWorkloadRequest(
            request_id=_id(request_id), namespace=namespace, name=name, replicas=replicas
        )
        response: federation_pb2.ScaleWorkloadResponse = await self.call("ScaleWorkload", request)
        return response

    async def delete(
        self, namespace: str, name: str, request_id: str = ""
    ) -> federation_pb2.DeleteWorkloadResponse:
        request = federation_pb2.DeleteWorkloadRequest(
            request_id=_id(request_id), namespace=namespace, name=name
        )
        response: federation_pb2.DeleteWorkloadResponse = await self.call("DeleteWorkload", request)
        return response

    async def get_workload(self, namespace: str, name: str) -> types_pb2.Workload:
        request = federation_pb2.GetWorkloadRequest(namespace=namespace, name=name)
        workload: types_pb2.Workload = await self.call("GetWorkload", request)
        return workload

    async def list_workloads(
        self, namespace: str = "", cluster: str = ""
    ) -> list[types_pb2.Workload]:
        """Every page of the listing."""
        found: list[types_pb2.Workload] = []
        token = ""
        while True:
            request = federation_pb2.ListWorkloadsRequest(
                namespace=namespace, cluster=cluster, page_token=token
            )
            page: federation_pb2.ListWorkloadsResponse = await self.call("ListWorkloads", request)
            found.extend(page.workloads)
            token = page.next_page_token
            if not token:
                return found

    async def watch_workloads(
        self, namespace: str = "", send_initial: bool = True
    ) -> AsyncIterator[federation_pb2.WorkloadEvent]:
        request = federation_pb2.WatchWorkloadsRequest(
            namespace=namespace, send_initial=send_initial
        )
        stream = self._stubs[self._next % len(self._stubs)].WatchWorkloads(request)
        try:
            async for event in stream:
                yield event
        except grpc.aio.AioRpcError as error:
            raise FederationError(error.code(), error.details() or "") from error

    async def explain(
        self, spec: types_pb2.WorkloadSpec
    ) -> federation_pb2.ExplainPlacementResponse:
        request = federation_pb2.ExplainPlacementRequest(spec=spec)
        response: federation_pb2.ExplainPlacementResponse = await self.call(
            "ExplainPlacement", request
        )
        return response

    # ----------------------------------------------------------- clusters

    async def register_cluster(
        self, spec: types_pb2.ClusterSpec, request_id: str = ""
    ) -> federation_pb2.ClusterInfo:
        request = federation_pb2.RegisterClusterRequest(request_id=_id(request_id), spec=spec)
        info: federation_pb2.ClusterInfo = await self.call("RegisterCluster", request)
        return info

    async def remove_cluster(
        self, name: str, *, drain: bool = False, force: bool = False, request_id: str = ""
    ) -> federation_pb2.RemoveClusterResponse:
        request = federation_pb2.RemoveClusterRequest(
            request_id=_id(request_id), name=name, drain=drain, force=force
        )
        response: federation_pb2.RemoveClusterResponse = await self.call("RemoveCluster", request)
        return response

    async def cordon(
        self, name: str, reason: str = "", request_id: str = ""
    ) -> federation_pb2.ClusterInfo:
        request = federation_pb2.CordonClusterRequest(
            request_id=_id(request_id), name=name, reason=reason
        )
        info: federation_pb2.ClusterInfo = await self.call("CordonCluster", request)
        return info

    async def uncordon(self, name: str, request_id: str = "") -> federation_pb2.ClusterInfo:
        request = federation_pb2.UncordonClusterRequest(request_id=_id(request_id), name=name)
        info: federation_pb2.ClusterInfo = await self.call("UncordonCluster", request)
        return info

    async def get_cluster(self, name: str) -> federation_pb2.ClusterInfo:
        info: federation_pb2.ClusterInfo = await self.call(
            "GetCluster", federation_pb2.GetClusterRequest(name=name)
        )
        return info

    async def list_clusters(self) -> list[federation_pb2.ClusterInfo]:
        response: federation_pb2.ListClustersResponse = await self.call(
            "ListClusters", federation_pb2.ListClustersRequest()
        )
        return list(response.clusters)

    # ---------------------------------------------------------- operations

    async def start_failover(
        self,
        action: federation_pb2.FailoverAction.ValueType,
        *,
        clusters: Sequence[str] = (),
        region: str = "",
        mode: types_pb2.FailoverMode.ValueType = types_pb2.FAILOVER_MODE_UNSPECIFIED,
        drill: bool = False,
        request_id: str = "",
    ) -> types_pb2.Operation:
        request = federation_pb2.StartFailoverRequest(
            request_id=_id(request_id),
            clusters=clusters,
            region=region,
            action=action,
            mode=mode,
            drill=drill,
        )
        operation: types_pb2.Operation = await self.call("StartFailover", request)
        return operation

    async def rebalance(
        self, clusters: Sequence[str] = (), *, dry_run: bool = False, request_id: str = ""
    ) -> types_pb2.Operation:
        request = federation_pb2.RebalanceRequest(
            request_id=_id(request_id), clusters=clusters, dry_run=dry_run
        )
        operation: types_pb2.Operation = await self.call("Rebalance", request)
        return operation

    async def get_operation(self, operation_id: str) -> types_pb2.Operation:
        request = federation_pb2.GetOperationRequest(id=operation_id)
        operation: types_pb2.Operation = await self.call("GetOperation", request)
        return operation

    async def list_operations(
        self,
        kind: types_pb2.OperationKind.ValueType = types_pb2.OPERATION_KIND_UNSPECIFIED,
        active_only: bool = False,
    ) -> list[types_pb2.Operation]:
        request = federation_pb2.ListOperationsRequest(kind=kind, active_only=active_only)
        response: federation_pb2.ListOperationsResponse = await self.call("ListOperations", request)
        return list(response.operations)

    async def watch_operation(self, operation_id: str) -> AsyncIterator[types_pb2.Operation]:
        """The operation now and at every change until it has finished."""
        request = federation_pb2.WatchOperationRequest(id=operation_id)
        stream = self._stubs[self._next % len(self._stubs)].WatchOperation(request)
        try:
            async for operation in stream:
                yield operation
        except grpc.aio.AioRpcError as error:
            raise FederationError(error.code(), error.details() or "") from error

    async def topology(self) -> federation_pb2.Topology:
        topology: federation_pb2.Topology = await self.call(
            "GetTopology", federation_pb2.GetTopologyRequest()
        )
        return topology


def _id(request_id: str) -> str:
    return request_id or f"req-{uuid.uuid4().hex}"
