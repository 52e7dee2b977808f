"""The public fed.v1.Federation API, served by every replica.

Reads come from the replica's cache. Writes run on the leader; a follower forwards them
once (a forwarded write that reaches a non-leader gets UNAVAILABLE, never a loop): workload
writes in batches (proxy.forwarded_writes, the Replica service), the others alone. The
leader's answers carry its latest etcd write revision; the follower answers only once its
cache has reached that revision, so a client's next read on the replica it talks to sees
what it wrote.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

import grpc
from google.protobuf.message import Message

from common.etcd_store import EtcdStore
from common.retry import ChannelOption
from fed.v1 import federation_pb2, federation_pb2_grpc, replica_pb2_grpc, types_pb2
from proxy import fleet, metrics
from proxy.cache import FedCache
from proxy.errors import ApiError, check_name, invalid, not_found
from proxy.federation_writes import WRITES
from proxy.forwarded_writes import WriteForwarder
from proxy.leader import LeaderDuties
from proxy.message_size import MESSAGE_BYTES
from proxy.routing import WorkerRouter
from proxy.scheduler.engine import Engine
from proxy.scheduler.model import ClusterView, PlacementRequest
from proxy.scheduler.plugins.cluster_selector import mismatch
from proxy.scheduler.policy import PolicyError
from proxy.scheduler.selection import Selection
from proxy.scheduler.validation import OPERATORS
from proxy.settings import ProxySection
from proxy.view import FedView
from proxy.write_round import validate_spec

_log = logging.getLogger(__name__)
FORWARDED = "x-fed-forwarded"
REVISION = "x-fed-revision"
_UNKNOWN = types_pb2.CLUSTER_HEALTH_UNKNOWN
_DEFAULT_PAGE = 500
SCAN_LIMIT = 2_000
"""Workloads a ListWorkloads page looks at, at most. A cluster filter that few workloads
match ends a page short (even empty) with a token to go on from, rather than holding the
event loop for a scan of the fleet (~3 us a workload: 300 ms at 100,000, on the leader too)."""


class Node(Protocol):
    """What the service needs of the process it runs in."""

    cache: FedCache
    store: EtcdStore
    engine: Engine
    router: WorkerRouter
    settings: ProxySection
    duties: LeaderDuties | None
    proxy_id: str

    def leader_address(self) -> str | None: ...


class FederationService(federation_pb2_grpc.FederationServicer):
    def __init__(self, node: Node, channel_options: Sequence[ChannelOption] = ()) -> None:
        self._node = node
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._replicas: dict[str, replica_pb2_grpc.ReplicaAsyncStub] = {}
        self._channel_options = list(channel_options)
        self._forwarder = WriteForwarder(
            self._replica, node.proxy_id, timeout_s=node.settings.forward_timeout_s
        )

    # ------------------------------------------------------------- writes

    async def PlaceWorkload(self, request: Any, context: Any) -> Any:
        return await self._write("PlaceWorkload", request, context)

    async def ScaleWorkload(self, request: Any, context: Any) -> Any:
        return await self._write("ScaleWorkload", request, context)

    async def DeleteWorkload(self, request: Any, context: Any) -> Any:
        return await self._write("DeleteWorkload", request, context)

    async def RegisterCluster(self, request: Any, context: Any) -> Any:
        return await self._write("RegisterCluster", request, context)

    async def RemoveCluster(self, request: Any, context: Any) -> Any:
        return await self._write("RemoveCluster", request, context)

    async def CordonCluster(self, request: Any, context: Any) -> Any:
        return await self._write("CordonCluster", request, context)

    async def UncordonCluster(self, request: Any, context: Any) -> Any:
        return await self._write("UncordonCluster", request, context)

    async def StartFailover(self, request: Any, context: Any) -> Any:
        return await self._write("StartFailover", request, context)

    async def Rebalance(self, request: Any, context: Any) -> Any:
        return await self._write("Rebalance", request, context)

    async def _write(self, method: str, request: Message, context: Any) -> Message:
        try:
            return await self._timed(method, self._lead_or_forward(method, request, context))
        except ApiError as error:
            await context.abort(error.code, error.message)
        raise AssertionError("abort raises")

    def _leading(self) -> LeaderDuties | None:
        """This replica's leader duties while it leads."""
        duties = self._node.duties
        return duties if duties is not None and duties.leadership.is_leader else None

    async def _lead_or_forward(self, method: str, request: Message, context: Any) -> Message:
        duties = self._leading()
        if duties is None:
            return await self._forward(method, request, context)
        answer = await WRITES[method].run(duties, method, request)
        if _forwarded(context):  # forwarded alone, as a Federation call
            revision = self._node.store.written_revision
            context.set_trailing_metadata(((REVISION, str(revision)),))
        return answer

    async def write_here(self, method: str, request: Message) -> Message:
        """Run a write forwarded in a ForwardWrites batch on this replica; UNAVAILABLE unless
        it leads (a forwarded write is never forwarded again). The follower gathered the
        batch already: it does not wait out this replica's batching window."""
        duties = self._leading()
        if duties is None:
            raise ApiError(grpc.StatusCode.UNAVAILABLE, "this replica does not lead; retry")
        return await self._timed(method, WRITES[method].run(duties, method, request, at_once=True))

    @staticmethod
    async def _timed(method: str, call: Awaitable[Message]) -> Message:
        started = time.perf_counter()
        outcome = "OK"
        try:
            return await call
        except ApiError as error:
            outcome = error.code.name
            raise
        finally:
            metrics.request_seconds(method, outcome).observe(time.perf_counter() - started)

    async def _forward(self, method: str, request: Message, context: Any) -> Message:
        """To the leader, in a ForwardWrites batch or alone as WRITES says."""
        address = self._node.leader_address()
        if _forwarded(context) or address is None:
            raise ApiError(grpc.StatusCode.UNAVAILABLE, "no leader is available; retry shortly")
        metrics.FORWARDED.labels(method).inc()
        try:
            if WRITES[method].batched:
                response, revision = await self._forward_batched(address, method, request)
            else:
                response, revision = await self._forward_alone(address, method, request)
        except grpc.aio.AioRpcError as error:
            raise ApiError(error.code(), error.details() or "the leader failed") from error
        await self._catch_up(revision)
        context.set_trailing_metadata(((REVISION, str(revision)),))
        return response

    async def _forward_batched(
        self, address: str, method: str, request: Message
    ) -> tuple[Message, int]:
        answer = await self._forwarder.forward(address, method, request)
        return WRITES[method].response.FromString(answer.response), answer.revision

    async def _forward_alone(
        self, address: str, method: str, request: Message
    ) -> tuple[Message, int]:
        stub = federation_pb2_grpc.FederationStub(self._channel(address))
        call = getattr(stub, method)(
            request,
            timeout=self._node.settings.forward_timeout_s,
            metadata=((FORWARDED, self._node.proxy_id),),
        )
        response: Message = await call
        return response, _revision(await call.trailing_metadata())

    async def _catch_up(self, revision: int) -> None:
        """Wait until this replica's cache holds `revision` (a forwarded write's); a cache
        that cannot catch up in time is logged, and the write answered all the same."""
        try:
            with metrics.CATCHING_UP.track_inprogress():
                await self._node.cache.wait_for_revision(
                    revision, timeout_s=self._node.settings.forward_timeout_s
                )
        except TimeoutError:
            _log.warning(
                "answering a forwarded write before the cache caught up with it",
                extra={"revision": revision, "cache_revision": self._node.cache.revision},
            )

    def _replica(self, address: str) -> replica_pb2_grpc.ReplicaAsyncStub:
        stub = self._replicas.get(address)
        if stub is None:
            stub = self._replicas[address] = replica_pb2_grpc.ReplicaStub(self._channel(address))
        return stub

    def _channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = grpc.aio.insecure_channel(address, options=self._channel_options)
            self._channels[address] = channel
        return channel

    # -------------------------------------------------------------- reads

    async def GetWorkload(self, request: Any, context: Any) -> Any:
        return await self._read(
            "GetWorkload", context, lambda: self._workload(request.namespace, request.name)
        )

    def _workload(self, namespace: str, name: str) -> types_pb2.Workload:
        check_name("namespace", namespace)
        check_name("name", name)
        workload = self._node.cache.view.workloads.get((namespace, name))
        if workload is None:
            raise not_found(f"workload {namespace}/{name}")
        return workload

    async def ListWorkloads(self, request: Any, context: Any) -> Any:
        return await self._read("ListWorkloads", context, lambda: self._list_workloads(request))

    def _list_workloads(
        self, request: federation_pb2.ListWorkloadsRequest
    ) -> federation_pb2.ListWorkloadsResponse:
        if request.page_size < 0:
            raise invalid("page_size", "must be >= 0")
        size = request.page_size or _DEFAULT_PAGE
        after = tuple(request.page_token.split("/", 1)) if request.page_token else ("", "")
        view = self._node.cache.view
        keys: Sequence[tuple[str, ...]] = view.workload_order.sorted_keys()
        start = bisect.bisect_right(keys, after)
        if request.namespace:
            start = max(start, bisect.bisect_left(keys, (request.namespace, "")))
        chosen: list[types_pb2.Workload] = []
        last: tuple[str, ...] = ()
        page_bytes = 0
        for scanned, key in enumerate(itertools.islice(keys, start, None)):
            if request.namespace and key[0] != request.namespace:
                break  # past the namespace's keys
            if scanned == SCAN_LIMIT:  # the next page goes on after the last key looked at
                return federation_pb2.ListWorkloadsResponse(
                    workloads=chosen, next_page_token="/".join(keys[start + scanned - 1])
                )
            workload = view.workloads[(key[0], key[1])]
            if request.cluster and not any(
                p.cluster == request.cluster for p in workload.placement.clusters
            ):
                continue
            record_bytes = workload.ByteSize()
            if len(chosen) == size or (chosen and page_bytes + record_bytes > MESSAGE_BYTES):
                return federation_pb2.ListWorkloadsResponse(
                    workloads=chosen, next_page_token="/".join(last)
                )
            chosen.append(workload)
            page_bytes += record_bytes
            last = key
        return federation_pb2.ListWorkloadsResponse(workloads=chosen)

    async def WatchWorkloads(self, request: Any, context: Any) -> AsyncIterator[Any]:
        cache = self._node.cache
        prefix = cache.keys.workloads_prefix()
        changes = cache.subscribe(prefix)
        try:
            known: set[tuple[str, str]] = set()
            if request.send_initial:
                for key, workload in _in_order(cache.view):
                    if not request.namespace or key[0] == request.namespace:
                        known.add(key)
                        yield _event("ADDED", workload, cache.revision)
            while True:
                change = await changes.get()
                for event in _workload_events(cache, change, prefix, request.namespace, known):
                    yield event
        finally:
            cache.unsubscribe(changes)

    async def ExplainPlacement(self, request: Any, context: Any) -> Any:
        return await self._read("ExplainPlacement", context, lambda: self._explain(request.spec))

    def _explain(self, spec: types_pb2.WorkloadSpec) -> Message:
        validate_spec(spec)
        view = self._node.cache.view
        existing = view.workloads.get((spec.namespace, spec.name))
        placement_request = PlacementRequest.from_spec(
            spec, existing.placement if existing is not None else None
        )
        return self._node.engine.explain(
            fleet.snapshot(view, self._node.settings.status_stale_s),
            fleet.ledger(view),
            placement_request,
        )

    async def GetCluster(self, request: Any, context: Any) -> Any:
        return await self._read("GetCluster", context, lambda: self._cluster(request.name))

    def _cluster(self, name: str) -> federation_pb2.ClusterInfo:
        check_name("name", name)
        info = cluster_info(self._node, name)
        if info is None:
            raise not_found(f"cluster {name}")
        return info

    async def ListClusters(self, request: Any, context: Any) -> Any:
        def listing() -> Message:
            selection = _selection(request.selector)
            view = self._node.cache.view
            names = [
                name for name, entry in sorted(view.clusters.items())
                if entry.spec is not None
                and not mismatch(selection, ClusterView.build(entry.spec, None, _UNKNOWN).labels)
            ]  # fmt: skip
            infos = [cluster_info(self._node, name) for name in names]
            return federation_pb2.ListClustersResponse(clusters=[i for i in infos if i])

        return await self._read("ListClusters", context, listing)

    async def GetOperation(self, request: Any, context: Any) -> Any:
        def get() -> Message:
            operation = self._node.cache.view.operations.get(request.id)
            if operation is None:
                raise not_found(f"operation {request.id}")
            return operation

        return await self._read("GetOperation", context, get)

    async def ListOperations(self, request: Any, context: Any) -> Any:
        def listing() -> Message:
            operations = sorted(self._node.cache.view.operations.items())
            return federation_pb2.ListOperationsResponse(
                operations=[
                    op
                    for _, op in operations
                    if request.kind in (0, op.kind)
                    and not (request.active_only and op.phase != types_pb2.OPERATION_PHASE_RUNNING)
                ]
            )

        return await self._read("ListOperations", context, listing)

    async def WatchOperation(self, request: Any, context: Any) -> AsyncIterator[Any]:
        """The operation now, then again at every change, until it has finished."""
        cache = self._node.cache
        key = cache.keys.operation(request.id) if request.id else ""
        changes = cache.subscribe(key or cache.keys.operations_prefix())
        try:
            operation = cache.view.operations.get(request.id)
            if operation is None:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"operation {request.id} not found")
            while operation is not None:
                yield operation
                if operation.phase != types_pb2.OPERATION_PHASE_RUNNING:
                    return
                while (change := await changes.get()).key != key and not change.resynced:
                    pass
                operation = cache.view.operations.get(request.id)
        finally:
            cache.unsubscribe(changes)

    async def GetTopology(self, request: Any, context: Any) -> Any:
        return await self._read("GetTopology", context, lambda: topology(self._node.cache))

    async def _read(self, method: str, context: Any, answer: Callable[[], Message]) -> Message:
        started = time.perf_counter()
        outcome = "OK"
        try:
            return answer()
        except ApiError as error:
            outcome = error.code.name
            await context.abort(error.code, error.message)
        except PolicyError as error:
            outcome = grpc.StatusCode.INVALID_ARGUMENT.name
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        finally:
            metrics.request_seconds(method, outcome).observe(time.perf_counter() - started)
        raise AssertionError("abort raises")

    async def close(self) -> None:
        await self._forwarder.close()
        await asyncio.gather(*(channel.close() for channel in self._channels.values()))
        self._channels.clear()
        self._replicas.clear()


def _forwarded(context: Any) -> bool:
    """Whether the call came from a follower (only such an answer needs the revision)."""
    return any(key == FORWARDED for key, _ in context.invocation_metadata() or ())


def _revision(metadata: Any) -> int:
    """The revision a leader's answer carries (0 from a leader that sends none)."""
    for key, value in metadata or ():
        if key == REVISION and str(value).isdigit():
            return int(value)
    return 0


def _selection(selector: types_pb2.LabelSelector) -> Selection:
    """The engine's own selector semantics (region and zone are labels too)."""
    for index, item in enumerate(selector.match_expressions):
        if item.operator not in OPERATORS:
            field = f"selector.match_expressions[{index}].operator"
            raise invalid(field, f"must be one of {sorted(OPERATORS)}")
    return Selection.from_policy(types_pb2.PlacementPolicy(cluster_selector=selector))


def cluster_info(node: Node, name: str) -> federation_pb2.ClusterInfo | None:
    view = node.cache.view
    info = fleet.cluster_info(
        view, name, node.router.workers_for(name), node.settings.status_stale_s, fleet.ledger(view)
    )
    if info is not None:
        info.last_scores.extend(node.engine.last_scores.get(name))  # the leader's, in memory
    return info


def topology(cache: FedCache) -> federation_pb2.Topology:
    view = cache.view
    leader = view.leader
    leader_id = leader.record.proxy_id if leader is not None else ""
    proxies = [
        federation_pb2.ProxyInfo(
            member=member,
            leader=proxy_id == leader_id,
            epoch=leader.epoch if leader is not None and proxy_id == leader_id else 0,
        )
        for proxy_id, member in sorted(view.proxies.items())
    ]
    workers = [
        federation_pb2.WorkerInfo(
            member=member,
            assignment=view.assignments.get(worker_id, types_pb2.Assignment(worker=worker_id)),
        )
        for worker_id, member in sorted(view.workers.items())
    ]
    response = federation_pb2.Topology(proxies=proxies, workers=workers, revision=cache.revision)
    for proxy in proxies:
        if proxy.leader:
            response.leader.CopyFrom(proxy)
    return response


def _event(kind: str, workload: types_pb2.Workload, revision: int) -> federation_pb2.WorkloadEvent:
    return federation_pb2.WorkloadEvent(
        type=federation_pb2.EventType.Value(f"EVENT_TYPE_{kind}"),
        workload=workload,
        revision=revision,
    )


def _in_order(view: FedView) -> list[tuple[tuple[str, str], types_pb2.Workload]]:
    """Every workload of the view by key, taken at once (a stream sends them over many
    event-loop turns, while the view changes)."""
    return [(key, view.workloads[key]) for key in view.workload_order.sorted_keys()]


def _workload_events(
    cache: FedCache, change: Any, prefix: str, namespace: str, known: set[tuple[str, str]]
) -> list[federation_pb2.WorkloadEvent]:
    if change.resynced:
        events = [_event("RESYNCED", types_pb2.Workload(), change.revision)]
        known.clear()
        for key, workload in _in_order(cache.view):
            if not namespace or key[0] == namespace:
                known.add(key)
                events.append(_event("ADDED", workload, change.revision))
        return events
    if not change.key.startswith(prefix):
        return []
    ns, _, name = change.key[len(prefix) :].partition("/")
    if namespace and ns != namespace:
        return []
    if change.deleted:
        known.discard((ns, name))
        gone = types_pb2.Workload(spec=types_pb2.WorkloadSpec(namespace=ns, name=name))
        return [_event("DELETED", gone, change.revision)]
    current = cache.view.workloads.get((ns, name))
    if current is None:
        return []
    kind = "MODIFIED" if (ns, name) in known else "ADDED"
    known.add((ns, name))
    return [_event(kind, current, change.revision)]
