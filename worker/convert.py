"""Conversions between the fed.v1 messages and the worker's plain data."""

from __future__ import annotations

from collections.abc import Iterable

from fed.v1 import types_pb2, worker_pb2
from worker.estimator import Assumed, Shape
from worker.model import Node, Res, Toleration


def resources(res: Res) -> types_pb2.Resources:
    return types_pb2.Resources(
        cpu_millis=res.cpu, memory_bytes=res.memory, gpu=res.gpu, pods=res.pods
    )


def res(message: types_pb2.Resources) -> Res:
    return Res(message.cpu_millis, message.memory_bytes, message.gpu, message.pods)


def tolerations(messages: Iterable[types_pb2.Toleration]) -> tuple[Toleration, ...]:
    return tuple(Toleration(t.key, t.operator or "Equal", t.value, t.effect) for t in messages)


def shape(request: worker_pb2.EstimateRequest) -> Shape:
    return Shape(
        res(request.per_replica),
        tuple(sorted(request.node_selector.items())),
        tolerations(request.tolerations),
    )


def assumed(request: worker_pb2.EstimateRequest) -> list[Assumed]:
    return [Assumed(res(a.per_replica), a.replicas) for a in request.assumed]


def node_info(node: Node, requested: Res, usage: Res | None, pods: int) -> worker_pb2.NodeInfo:
    return worker_pb2.NodeInfo(
        name=node.name,
        ready=node.ready,
        unschedulable=node.unschedulable,
        labels=node.labels,
        taints=[types_pb2.Taint(key=t.key, value=t.value, effect=t.effect) for t in node.taints],
        allocatable=resources(node.allocatable),
        requested=resources(requested),
        usage=resources(usage) if usage is not None else None,
        pods=pods,
    )
