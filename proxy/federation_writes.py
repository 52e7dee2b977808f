"""The Federation writes, in one table: the request and response types of each, what runs it
on the leader, and how a follower forwards it.

Workload writes are frequent and answered within the leader's batching window and commit:
followers forward them in ForwardWrites batches (proxy.forwarded_writes). Admin and operation
writes are rare and may take seconds (a registration reaches the cluster): they go alone, so
that they never hold up a batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from google.protobuf.message import Message

from fed.v1 import federation_pb2, types_pb2
from proxy.errors import ApiError
from proxy.leader import LeaderDuties


class LeaderWrite(Protocol):
    """Runs a write on the leader: (its duties, the method, the request) -> the response.
    `at_once`: a follower forwarded it in a ForwardWrites batch, gathered already, so a
    workload write does not wait out the leader's batching window (proxy.scheduler.batcher);
    admin writes run alone either way."""

    def __call__(
        self, duties: LeaderDuties, method: str, request: Message, *, at_once: bool = False
    ) -> Awaitable[Message]: ...


@dataclass(frozen=True)
class Write:
    request: type[Message]
    response: type[Message]
    run: LeaderWrite
    batched: bool = False
    """Forwarded in ForwardWrites batches (else alone, as a Federation call)."""


async def _workload_write(
    duties: LeaderDuties, method: str, request: Message, *, at_once: bool = False
) -> Message:
    if duties.writer is None:
        raise ApiError(grpc.StatusCode.UNAVAILABLE, "the leader is starting")
    return await duties.writer.submit((method, request), at_once=at_once)


def _admin(name: str) -> LeaderWrite:
    async def call(
        duties: LeaderDuties, method: str, request: Message, *, at_once: bool = False
    ) -> Message:
        if duties.clusters is None:
            raise ApiError(grpc.StatusCode.UNAVAILABLE, "the leader is starting")
        handler: Callable[[Message], Awaitable[Message]] = getattr(duties.clusters, name)
        return await handler(request)

    return call


async def _failover(
    duties: LeaderDuties, method: str, request: Message, *, at_once: bool = False
) -> Message:
    if duties.failover is None:
        raise ApiError(grpc.StatusCode.UNAVAILABLE, "the leader is starting")
    return await duties.failover.start(request)  # type: ignore[arg-type]


async def _rebalance(
    duties: LeaderDuties, method: str, request: Any, *, at_once: bool = False
) -> Message:
    """Move replicas off the named (or the hot) clusters; a dry run only plans."""
    if duties.failover is None or duties.rescheduler is None:
        raise ApiError(grpc.StatusCode.UNAVAILABLE, "the leader is starting")
    existing = duties.failover.existing(request.request_id)
    if existing is not None:
        return existing
    sources = list(request.clusters) or duties.rescheduler.hot()
    if not sources:
        raise ApiError(grpc.StatusCode.FAILED_PRECONDITION, "no cluster is hot; nothing to do")
    if request.dry_run:
        return await duties.failover.save(
            duties.failover.plan_rebalance(sources, request.request_id)
        )
    operation = await duties.rescheduler.round(sources)
    if operation is None:
        raise ApiError(
            grpc.StatusCode.FAILED_PRECONDITION,
            "nothing to move: no cool cluster to move to, an operation is already running "
            "there, or every candidate moved within the cooldown",
        )
    operation.request_id = request.request_id
    return await duties.failover.save(operation)


WRITES: dict[str, Write] = {
    "PlaceWorkload": Write(
        federation_pb2.PlaceWorkloadRequest,
        federation_pb2.PlaceWorkloadResponse,
        _workload_write,
        batched=True,
    ),
    "ScaleWorkload": Write(
        federation_pb2.ScaleWorkloadRequest,
        federation_pb2.ScaleWorkloadResponse,
        _workload_write,
        batched=True,
    ),
    "DeleteWorkload": Write(
        federation_pb2.DeleteWorkloadRequest,
        federation_pb2.DeleteWorkloadResponse,
        _workload_write,
        batched=True,
    ),
    "RegisterCluster": Write(
        federation_pb2.RegisterClusterRequest, federation_pb2.ClusterInfo, _admin("register")
    ),
    "RemoveCluster": Write(
        federation_pb2.RemoveClusterRequest, federation_pb2.RemoveClusterResponse, _admin("remove")
    ),
    "CordonCluster": Write(
        federation_pb2.CordonClusterRequest, federation_pb2.ClusterInfo, _admin("cordon")
    ),
    "UncordonCluster": Write(
        federation_pb2.UncordonClusterRequest, federation_pb2.ClusterInfo, _admin("uncordon")
    ),
    "StartFailover": Write(federation_pb2.StartFailoverRequest, types_pb2.Operation, _failover),
    "Rebalance": Write(federation_pb2.RebalanceRequest, types_pb2.Operation, _rebalance),
}
"""Every Federation write by method (a unit test checks the types against the service)."""
