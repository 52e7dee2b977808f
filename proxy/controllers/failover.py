"""Failover, drills and drains: operations that move every replica off some clusters.

An operation is a persisted record (`/fed/operations/<id>`) naming its source clusters and,
as its steps, the workloads in scope (highest priority first). The controller drives it
through the workload writer: each workload is evacuated (reserve before moving), then its
move completed once the targets are Ready. Progress is read back from the workload records
themselves, so a new leader resumes a half-done operation from etcd without duplicating
or losing replicas. Plans are dry runs against a copy of the ledger.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from common.election import Leadership
from common.etcd_store import Delete, Put
from common.keys import Keys
from fed.v1 import federation_pb2, types_pb2
from proxy import fleet
from proxy.cache import FedCache
from proxy.errors import ApiError, check_name, check_request_id, invalid
from proxy.migration import (
    CompleteMove,
    Evacuate,
    ReturnMove,
    held_on,
    in_flight,
    refused_target,
)
from proxy.scheduler.engine import Engine
from proxy.scheduler.model import PlacementRequest
from proxy.settings import FailoverSection, ProxySection
from proxy.workloads import WorkloadWriter

_log = logging.getLogger(__name__)


class FailoverController:
    def __init__(
        self,
        leadership: Leadership,
        keys: Keys,
        cache: FedCache,
        writer: WorkloadWriter,
        engine: Engine,
        settings: FailoverSection,
        proxy_settings: ProxySection,
    ) -> None:
        self._leadership = leadership
        self._keys = keys
        self._cache = cache
        self._writer = writer
        self._engine = engine
        self._settings = settings
        self._proxy_settings = proxy_settings
        self._operations: dict[str, types_pb2.Operation] = {}
        self._last_try: dict[tuple[str, str, str], float] = {}
        self._progress: dict[str, tuple[tuple[int, int], float]] = {}
        """Per operation driven here: its progress (replicas moved, steps moving) and since
        when it has been that."""

    # ------------------------------------------------------------ entry points

    async def on_failed(self, cluster: str, trouble_began: float) -> None:
        """The health controller declared `cluster` Failed: start a direct failover of the
        workloads that want it (all of them when automatic failover is on globally)."""
        if any(cluster in op.clusters for op in self._active()):
            return
        scope = [
            w for w in self._on([cluster]) if self._settings.auto or w.spec.policy.auto_failover
        ]
        if not scope:
            return
        operation = self._new(
            types_pb2.OPERATION_KIND_FAILOVER, [cluster], types_pb2.FAILOVER_MODE_DIRECT
        )
        operation.timeline.add(at=_stamp(trouble_began), message=f"{cluster} unhealthy")
        _add_steps(operation, scope, cluster)
        operation.timeline.add(at=_stamp(time.time()), message=f"{cluster} failed: failing over")
        await self._save(operation)

    async def start(self, request: federation_pb2.StartFailoverRequest) -> types_pb2.Operation:
        """Plan, execute or restore; the same request_id gets the same operation back."""
        existing = self.existing(request.request_id)
        if existing is not None:
            return existing
        sources = self._sources(request)
        mode = request.mode or (
            types_pb2.FAILOVER_MODE_GRACEFUL if request.drill else types_pb2.FAILOVER_MODE_DIRECT
        )
        kind = (
            types_pb2.OPERATION_KIND_DRILL if request.drill else types_pb2.OPERATION_KIND_FAILOVER
        )
        if request.action == federation_pb2.FAILOVER_ACTION_PLAN:
            return await self._save(self._plan(kind, sources, mode, request.request_id))
        if request.action == federation_pb2.FAILOVER_ACTION_EXECUTE:
            return await self._execute(kind, sources, mode, request)
        if request.action == federation_pb2.FAILOVER_ACTION_RESTORE:
            return await self._restore(sources, request)
        raise invalid("action", "one of PLAN, EXECUTE, RESTORE")

    async def rebalance(
        self, sources: list[str], workloads: list[types_pb2.Workload], request_id: str = ""
    ) -> types_pb2.Operation | None:
        """Move the given workloads' replicas off `sources`, gracefully, without cordoning."""
        if any(set(sources) & set(op.clusters) for op in self._active()):
            return None
        operation = self._new(
            types_pb2.OPERATION_KIND_REBALANCE,
            sources,
            types_pb2.FAILOVER_MODE_GRACEFUL,
            request_id,
        )
        for cluster in sources:
            _add_steps(operation, workloads, cluster)
        operation.timeline.add(
            at=_stamp(time.time()), message=f"{', '.join(sources)} hot: moving replicas off"
        )
        return await self._save(operation)

    async def drain(self, cluster: str, request_id: str) -> types_pb2.Operation:
        """Move everything off `cluster` gracefully, then remove it from the federation."""
        existing = self.existing(request_id)
        if existing is not None:
            return existing
        if any(cluster in op.clusters for op in self._active()):
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION, f"an operation on {cluster} is already running"
            )
        operation = self._new(
            types_pb2.OPERATION_KIND_DRAIN, [cluster], types_pb2.FAILOVER_MODE_GRACEFUL, request_id
        )
        await self._set_state([cluster], types_pb2.ADMIN_STATE_DRAINING, f"drain {operation.id}")
        _add_steps(operation, self._on([cluster]), cluster)
        operation.timeline.add(at=_stamp(time.time()), message=f"draining {cluster}")
        return await self._save(operation)

    def plan_rebalance(self, sources: list[str], request_id: str) -> types_pb2.Operation:
        return self._plan(
            types_pb2.OPERATION_KIND_REBALANCE,
            sources,
            types_pb2.FAILOVER_MODE_GRACEFUL,
            request_id,
        )

    def existing(self, request_id: str) -> types_pb2.Operation | None:
        """The operation an earlier call with this request_id created, if any."""
        check_request_id(request_id)
        for operation in [*self._operations.values(), *self._cache.view.operations.values()]:
            if operation.request_id == request_id:
                return operation
        return None

    async def save(self, operation: types_pb2.Operation) -> types_pb2.Operation:
        return await self._save(operation)

    async def run(self) -> None:
        self._operations = {
            op.id: op for op in self._cache.view.operations.values()
            if op.phase == types_pb2.OPERATION_PHASE_RUNNING
        }  # fmt: skip
        while True:
            for operation in list(self._active()):
                await self._drive(operation)
            await asyncio.sleep(self._settings.health_period_s)

    # -------------------------------------------------------------- planning

    def _sources(self, request: federation_pb2.StartFailoverRequest) -> list[str]:
        clusters = self._cache.view.clusters
        if request.region:
            found = sorted(
                n
                for n, e in clusters.items()
                if e.spec is not None and e.spec.region == request.region
            )
            if not found:
                raise invalid("region", f"no cluster in region {request.region!r}")
            return found
        if not request.clusters:
            raise invalid("clusters", "name clusters or a region")
        for index, name in enumerate(request.clusters):
            check_name(f"clusters[{index}]", name)
            if name not in clusters:
                raise ApiError(grpc.StatusCode.NOT_FOUND, f"cluster {name} not found")
        return sorted(set(request.clusters))

    def _plan(
        self,
        kind: types_pb2.OperationKind.ValueType,
        sources: list[str],
        mode: types_pb2.FailoverMode.ValueType,
        request_id: str,
    ) -> types_pb2.Operation:
        """What would move where, and what fits nowhere, without reserving anything."""
        operation = self._new(kind, sources, mode, request_id)
        operation.phase = types_pb2.OPERATION_PHASE_PLANNED
        operation.dry_run = True
        view = self._cache.view
        cycle = self._engine.cycle(
            fleet.snapshot(view, self._proxy_settings.status_stale_s), self._writer.ledger.copy()
        )
        for workload in self._on(sources):
            request = PlacementRequest.from_spec(
                workload.spec, workload.placement, evacuate=sources, request_id=operation.id
            )
            decision = cycle.decide(request)
            if decision.ok:
                cycle.reserve(request, decision)
            name = _name(workload)
            for item in decision.assignments:
                if item.cluster not in sources and item.delta > 0:
                    operation.steps.add(
                        workload=name, to_cluster=item.cluster, replicas=item.delta,
                        from_cluster=",".join(sources), phase=types_pb2.STEP_PHASE_PENDING,
                    )  # fmt: skip
            if decision.unplaced or not decision.ok:
                operation.shortfalls.add(
                    workload=name,
                    replicas=decision.unplaced or held_on(workload, frozenset(sources)),
                    reasons=decision.reasons() or [decision.status.message()],
                )
        operation.replicas_total = sum(s.replicas for s in operation.steps) + sum(
            s.replicas for s in operation.shortfalls
        )
        operation.timeline.add(at=_stamp(time.time()), message="planned (dry run)")
        return operation

    async def _execute(
        self,
        kind: types_pb2.OperationKind.ValueType,
        sources: list[str],
        mode: types_pb2.FailoverMode.ValueType,
        request: federation_pb2.StartFailoverRequest,
    ) -> types_pb2.Operation:
        if any(set(sources) & set(op.clusters) for op in self._active()):
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"an operation on {', '.join(sources)} is already running",
            )
        operation = self._new(kind, sources, mode, request.request_id)
        await self._set_state(
            sources, types_pb2.ADMIN_STATE_CORDONED, f"{_kind(kind)} {operation.id}"
        )
        for cluster in sources:
            _add_steps(operation, self._on([cluster]), cluster)
        operation.timeline.add(
            at=_stamp(time.time()), message=f"cordoned {', '.join(sources)}; moving replicas"
        )
        return await self._save(operation)

    async def _restore(
        self, sources: list[str], request: federation_pb2.StartFailoverRequest
    ) -> types_pb2.Operation:
        """Uncordon the clusters, then fail back what the last drill of them moved, once
        they are Ready again (health's stabilisation window applies)."""
        await self._set_state(sources, types_pb2.ADMIN_STATE_ACTIVE, "")
        operation = self._new(
            types_pb2.OPERATION_KIND_RESTORE,
            sources,
            types_pb2.FAILOVER_MODE_GRACEFUL,
            request.request_id,
        )
        drilled = [
            op for op in self._cache.view.operations.values()
            if set(op.clusters) == set(sources) and op.kind == types_pb2.OPERATION_KIND_DRILL
        ]  # fmt: skip
        if drilled:
            drill = max(drilled, key=lambda op: op.created_at.ToMicroseconds())
            operation.restores = drill.id
            for step in drill.steps:
                if step.phase == types_pb2.STEP_PHASE_DONE and step.to_cluster:
                    operation.steps.add(
                        workload=step.workload, from_cluster=step.to_cluster,
                        to_cluster=step.from_cluster, replicas=step.replicas,
                        phase=types_pb2.STEP_PHASE_PENDING,
                    )  # fmt: skip
        operation.replicas_total = sum(step.replicas for step in operation.steps)
        operation.timeline.add(
            at=_stamp(time.time()),
            message=f"uncordoned {', '.join(sources)}; failing back once they are Ready",
        )
        return await self._save(operation)

    # --------------------------------------------------------------- driving

    async def _drive(self, operation: types_pb2.Operation) -> None:
        if operation.kind == types_pb2.OPERATION_KIND_RESTORE:
            await self._drive_return(operation)
            return
        sources = frozenset(operation.clusters)
        before = operation.SerializeToString()
        budget = max(0, self._settings.max_parallel_moves - _moving(operation))
        moves: list[Evacuate | CompleteMove] = []
        for step in operation.steps:
            workload = self._writer.workloads.get(_key(step.workload))
            if workload is None:
                step.phase = types_pb2.STEP_PHASE_SKIPPED
            elif step.phase in (
                types_pb2.STEP_PHASE_DONE,
                types_pb2.STEP_PHASE_SKIPPED,
            ) or _refused(step):
                continue
            elif in_flight(workload):
                _note_refusal(step, workload, operation.id)
                moves.append(CompleteMove(*_key(step.workload), operation.id))
            elif held_on(workload, sources) and budget > 0 and self._due(operation, step):
                budget -= 1
                moves.append(Evacuate(*_key(step.workload), sources, operation.id, operation.mode))
        await asyncio.gather(*(self._writer.submit(move) for move in moves))
        for step in operation.steps:
            _observe(step, self._writer.workloads.get(_key(step.workload)), sources, operation.id)
        _tally(operation)
        quiet_s, settle_s = self._quiet_for(operation), self._settings.shortfall_settle_s
        if may_end(operation, quiet_s, settle_s) and await self._settled(operation):
            self._finish(operation)
        if operation.SerializeToString() != before:
            await self._save(operation)

    def _quiet_for(self, operation: types_pb2.Operation) -> float:
        """Seconds since the operation last moved replicas or started or ended a move."""
        now = time.monotonic()
        progress = (operation.replicas_moved, _moving(operation))
        known = self._progress.get(operation.id)
        if known is None or known[0] != progress:
            known = self._progress[operation.id] = (progress, now)
        return now - known[1]

    async def _drive_return(self, operation: types_pb2.Operation) -> None:
        before = operation.SerializeToString()
        completions: list[CompleteMove] = []
        returns: list[tuple[types_pb2.OperationStep, ReturnMove]] = []
        for step in operation.steps:
            workload = self._writer.workloads.get(_key(step.workload))
            if workload is None or step.phase in _DONE:
                continue
            if in_flight(workload):
                completions.append(CompleteMove(*_key(step.workload), operation.id))
            elif step.phase == types_pb2.STEP_PHASE_PENDING and self._ready(step.to_cluster):
                returns.append((step, ReturnMove(
                    *_key(step.workload), step.to_cluster, tuple(step.from_cluster.split(",")),
                    step.replicas, operation.id,
                )))  # fmt: skip
        await asyncio.gather(*(self._writer.submit(move) for move in completions))
        answers = await asyncio.gather(*(self._writer.submit(move) for _, move in returns))
        for (step, _), answer in zip(returns, answers, strict=True):
            if not _tagged(answer, step.to_cluster, operation.id):
                step.phase = types_pb2.STEP_PHASE_FAILED
                step.message = "no room to fail back: the replicas stay where they are"
        for step in operation.steps:
            _observe_return(step, self._writer.workloads.get(_key(step.workload)), operation.id)
        _tally(operation)
        if all(step.phase in _DONE for step in operation.steps):
            self._finish(operation)
        if operation.SerializeToString() != before:
            await self._save(operation)

    def _ready(self, cluster: str) -> bool:
        entry = self._cache.view.clusters.get(cluster)
        health = entry.health if entry is not None else None
        return health is not None and health.health == types_pb2.CLUSTER_HEALTH_READY

    async def _settled(self, operation: types_pb2.Operation) -> bool:
        """A drain ends by removing its cluster, once no workload part (even one waiting to
        be removed from it) refers to it; other operations are settled when their steps are.
        A drain that could not move everything keeps its cluster, cordoned again: nothing
        drains it any more, and a later remove tries afresh."""
        if operation.kind != types_pb2.OPERATION_KIND_DRAIN:
            return True
        (cluster,) = operation.clusters
        failed = sum(1 for step in operation.steps if step.phase == types_pb2.STEP_PHASE_FAILED)
        if failed:
            reason = f"drain {operation.id} left {failed} workloads on it"
            await self._set_state([cluster], types_pb2.ADMIN_STATE_CORDONED, reason)
            operation.timeline.add(at=_stamp(time.time()), message=f"{cluster} kept: {reason}")
            return True
        for workload in self._writer.workloads.values():
            if any(part.cluster == cluster for part in workload.placement.clusters):
                return False
        await self._leadership.txn(
            [
                Delete(self._keys.cluster_spec(cluster)),
                Delete(self._keys.cluster_status(cluster)),
                Delete(self._keys.cluster_health(cluster)),
            ]
        )
        operation.timeline.add(at=_stamp(time.time()), message=f"{cluster} removed")
        return True

    def _due(self, operation: types_pb2.Operation, step: types_pb2.OperationStep) -> bool:
        """A step is tried at once, then (when nothing fit) every retry_degraded_s."""
        key = (operation.id, step.workload, step.from_cluster)
        now = time.monotonic()
        if now - self._last_try.get(key, -1e9) < self._settings.retry_degraded_s:
            return False
        self._last_try[key] = now
        return True

    def _finish(self, operation: types_pb2.Operation) -> None:
        self._progress.pop(operation.id, None)
        now = time.time()
        partial = any(s.phase == types_pb2.STEP_PHASE_FAILED for s in operation.steps)
        operation.phase = (
            types_pb2.OPERATION_PHASE_PARTIAL if partial else types_pb2.OPERATION_PHASE_SUCCEEDED
        )
        operation.finished_at.CopyFrom(_stamp(now))
        began = operation.timeline[0].at if operation.timeline else operation.created_at
        operation.rto_seconds = round(now - began.ToMicroseconds() / 1e6, 3)
        message = f"finished: {operation.replicas_moved} replicas moved"
        if partial:
            message += f", {operation.replicas_failed} fit nowhere and stayed put"
        operation.timeline.add(at=_stamp(now), message=message)
        _log.info("operation finished", extra={"id": operation.id, "rto_s": operation.rto_seconds})

    # --------------------------------------------------------------- records

    def _active(self) -> Iterable[types_pb2.Operation]:
        return [
            op for op in self._operations.values()
            if op.phase == types_pb2.OPERATION_PHASE_RUNNING
        ]  # fmt: skip

    def _on(self, clusters: Iterable[str]) -> list[types_pb2.Workload]:
        """Workloads with replicas on `clusters`, highest priority first (then by name)."""
        sources = frozenset(clusters)
        found = [w for w in self._writer.workloads.values() if held_on(w, sources) > 0]
        return sorted(found, key=lambda w: (-w.spec.priority, _name(w)))

    def _new(
        self,
        kind: types_pb2.OperationKind.ValueType,
        clusters: list[str],
        mode: types_pb2.FailoverMode.ValueType,
        request_id: str = "",
    ) -> types_pb2.Operation:
        operation = types_pb2.Operation(
            id=f"{_kind(kind)}-{uuid.uuid4().hex[:10]}",
            kind=kind,
            phase=types_pb2.OPERATION_PHASE_RUNNING,
            mode=mode,
            clusters=clusters,
            request_id=request_id,
        )
        operation.created_at.CopyFrom(_stamp(time.time()))
        return operation

    async def _save(self, operation: types_pb2.Operation) -> types_pb2.Operation:
        self._operations[operation.id] = operation
        key = self._keys.operation(operation.id)
        result = await self._leadership.txn([Put(key, operation.SerializeToString())])
        await self._cache.wait_for_revision(result.revision, timeout_s=5)
        return operation

    async def _set_state(
        self, clusters: list[str], state: types_pb2.AdminState.ValueType, reason: str
    ) -> None:
        ops = []
        for name in clusters:
            entry = self._cache.view.clusters.get(name)
            if entry is None or entry.spec is None:
                continue
            spec = types_pb2.ClusterSpec()
            spec.CopyFrom(entry.spec)
            spec.state, spec.state_reason = state, reason
            ops.append(Put(self._keys.cluster_spec(name), spec.SerializeToString()))
        if ops:
            result = (await self._leadership.txn_chunked(ops))[-1]
            await self._cache.wait_for_revision(result.revision, timeout_s=5)


_DONE = (types_pb2.STEP_PHASE_DONE, types_pb2.STEP_PHASE_FAILED, types_pb2.STEP_PHASE_SKIPPED)


def may_end(operation: types_pb2.Operation, quiet_s: float, settle_s: float) -> bool:
    """Every step is terminal, and if some replicas found no room, the operation has not
    progressed for `settle_s` while they were retried: a move's reservation holds room until
    its pods run and the cluster's status shows the nodes they took, so a step can fail for
    want of room that the moves in flight free moments later."""
    if not all(step.phase in _DONE for step in operation.steps):
        return False
    short_of_room = any(
        step.phase == types_pb2.STEP_PHASE_FAILED and not step.refused for step in operation.steps
    )
    return not short_of_room or quiet_s >= settle_s


def _add_steps(
    operation: types_pb2.Operation, workloads: list[types_pb2.Workload], cluster: str
) -> None:
    sources = frozenset([cluster])
    for workload in workloads:
        operation.steps.add(
            workload=_name(workload),
            from_cluster=cluster,
            replicas=held_on(workload, sources),
            phase=types_pb2.STEP_PHASE_PENDING,
        )
    operation.replicas_total = sum(step.replicas for step in operation.steps)


def _observe(
    step: types_pb2.OperationStep,
    workload: types_pb2.Workload | None,
    sources: frozenset[str],
    operation_id: str,
) -> None:
    """The step's phase as the workload record shows it (a refused target's step stays
    Failed: the move was given up, see migration.complete)."""
    if _refused(step):
        return
    if workload is None:
        step.phase = types_pb2.STEP_PHASE_SKIPPED
        return
    tagged = [p for p in workload.placement.clusters if p.operation_id == operation_id]
    targets = [p for p in tagged if p.leaving == 0 and p.cluster not in sources]
    if targets:
        step.to_cluster = ",".join(sorted(p.cluster for p in targets))
        ready = all(p.phase == types_pb2.WORKLOAD_PHASE_READY for p in targets)
        step.phase = types_pb2.STEP_PHASE_READY if ready else types_pb2.STEP_PHASE_RESERVED
        return
    left = held_on(workload, sources)
    if step.phase == types_pb2.STEP_PHASE_PENDING and left == step.replicas:
        degraded = any(
            p.phase == types_pb2.WORKLOAD_PHASE_DEGRADED for p in workload.placement.clusters
        )
        if degraded:
            step.phase, step.message = types_pb2.STEP_PHASE_FAILED, workload.message
        return
    if left and step.phase != types_pb2.STEP_PHASE_DONE:
        step.phase, step.message = types_pb2.STEP_PHASE_FAILED, workload.message
        return
    step.phase, step.message = types_pb2.STEP_PHASE_DONE, ""
    if not step.HasField("finished_at"):
        step.finished_at.CopyFrom(_stamp(time.time()))


def _refused(step: types_pb2.OperationStep) -> bool:
    return step.phase == types_pb2.STEP_PHASE_FAILED and step.refused


def _note_refusal(
    step: types_pb2.OperationStep, workload: types_pb2.Workload, operation_id: str
) -> None:
    """A target of this move Failed: the step fails for good (its CompleteMove gives up)."""
    part = refused_target(workload, operation_id)
    if part is not None:
        step.phase, step.refused = types_pb2.STEP_PHASE_FAILED, True
        step.message = f"apply failed on {part.cluster}: {part.message}"


def _tagged(answer: object, cluster: str, operation_id: str) -> bool:
    if not isinstance(answer, types_pb2.Workload):
        return False
    return any(
        p.cluster == cluster and p.operation_id == operation_id for p in answer.placement.clusters
    )


def _observe_return(
    step: types_pb2.OperationStep, workload: types_pb2.Workload | None, operation_id: str
) -> None:
    """A fail-back step follows its returning part; done once the donors have left."""
    if workload is None:
        step.phase = types_pb2.STEP_PHASE_SKIPPED
        return
    if step.phase in _DONE:
        return
    if _tagged(workload, step.to_cluster, operation_id):
        (back,) = [p for p in workload.placement.clusters if p.cluster == step.to_cluster]
        ready = back.phase == types_pb2.WORKLOAD_PHASE_READY
        step.phase = types_pb2.STEP_PHASE_READY if ready else types_pb2.STEP_PHASE_RESERVED
    elif step.phase in (types_pb2.STEP_PHASE_RESERVED, types_pb2.STEP_PHASE_READY):
        step.phase, step.message = types_pb2.STEP_PHASE_DONE, ""
        step.finished_at.CopyFrom(_stamp(time.time()))


def _tally(operation: types_pb2.Operation) -> None:
    done = [s for s in operation.steps if s.phase == types_pb2.STEP_PHASE_DONE]
    failed = [s for s in operation.steps if s.phase == types_pb2.STEP_PHASE_FAILED]
    operation.replicas_moved = sum(s.replicas for s in done)
    operation.replicas_failed = sum(s.replicas for s in failed)
    del operation.shortfalls[:]
    for step in failed:
        operation.shortfalls.add(
            workload=step.workload, replicas=step.replicas, reasons=[step.message]
        )


def _moving(operation: types_pb2.Operation) -> int:
    return sum(
        1
        for s in operation.steps
        if s.phase in (types_pb2.STEP_PHASE_RESERVED, types_pb2.STEP_PHASE_READY)
    )


def _name(workload: types_pb2.Workload) -> str:
    return f"{workload.spec.namespace}/{workload.spec.name}"


def _key(name: str) -> tuple[str, str]:
    namespace, _, workload = name.partition("/")
    return namespace, workload


def _kind(kind: types_pb2.OperationKind.ValueType) -> str:
    return types_pb2.OperationKind.Name(kind).removeprefix("OPERATION_KIND_").lower()


def _stamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromMicroseconds(int(seconds * 1e6))
    return stamp
