"""The leader's single writer of workload records, reservations and request answers.

Every write to a workload goes through one batched pipeline: requests that arrive within
the batching window are merged (the engine filters and scores once per equivalence class),
decided against the in-memory ledger one after another, and committed in fenced etcd
transactions. A request's reservations, its workload record and its request answer always
share one transaction, so an acknowledged answer never outlives a lost effect. Binder
phase reports take the same path, so no update of a record is ever lost to another.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from common.election import Leadership
from common.etcd_store import Compare, Delete, Op, Put
from common.keys import Keys
from fed.v1 import federation_pb2, types_pb2
from proxy import metrics, migration
from proxy.errors import ApiError, check_name, check_request_id, invalid, not_found
from proxy.ledger import Ledger
from proxy.migration import CompleteMove, Evacuate, Refused, ReturnMove
from proxy.requests import Call, RequestIdReused, RequestLog, digest
from proxy.scheduler.batcher import Batcher, Pending
from proxy.scheduler.cycle import Cycle
from proxy.scheduler.decision import Decision
from proxy.scheduler.engine import Engine, Outcome
from proxy.scheduler.model import PlacementRequest, Snapshot
from proxy.scheduler.policy import PolicyError

_log = logging.getLogger(__name__)
Phase = types_pb2.WorkloadPhase


@dataclass(frozen=True)
class PhaseReport:
    """What the binder learned about one cluster's part of a workload.

    `replicas` is the part's size when the binder acted: a report about a part that has
    changed since (a move or scale re-grew it) is stale and ignored.
    """

    namespace: str
    name: str
    cluster: str
    replicas: int
    phase: Phase.ValueType
    ready_replicas: int = 0
    message: str = ""


@dataclass(frozen=True)
class Finalize:
    """The workload is gone from every cluster: drop its record and reservations."""

    namespace: str
    name: str


WriteItem = (
    tuple[str, Message] | PhaseReport | Finalize | Evacuate | CompleteMove | ReturnMove | Refused
)
_INTERNAL = (PhaseReport, Finalize, Evacuate, CompleteMove, ReturnMove, Refused)


@dataclass
class _Prepared:
    """One write of a round: its ops, and its answer once the round commits (`error` or
    `response`; answers wait for the commit, which proves the call was not a repeat)."""

    pending: Pending[WriteItem, Message]
    call: Call | None = None
    ops: list[Op] = field(default_factory=list)
    response: Message | None = None
    error: Exception | None = None
    workload: types_pb2.Workload | None = None


class WorkloadWriter:
    """Runs on the leader only; built when leadership starts, stopped when it ends."""

    def __init__(
        self,
        leadership: Leadership,
        keys: Keys,
        engine: Engine,
        ledger: Ledger,
        workloads: dict[tuple[str, str], types_pb2.Workload],
        requests: RequestLog,
        snapshot: Callable[[], Snapshot],
        on_commit: Callable[[types_pb2.Workload], None],
        *,
        window_s: float,
        max_batch: int,
    ) -> None:
        self._leadership = leadership
        self._keys = keys
        self._engine = engine
        self.ledger = ledger
        self.workloads = workloads
        self._requests = requests
        self._snapshot = snapshot
        self._on_commit = on_commit
        self._undo: dict[tuple[str, str], types_pb2.Workload | None] = {}
        self._round_cycle: Cycle | None = None
        self._stamp = _now()
        """The time a round stamps its records with (one clock read per round)."""
        self._batcher: Batcher[WriteItem, Message] = Batcher(
            self._process, window_s=window_s, max_size=max_batch
        )

    def start(self) -> None:
        self._batcher.start()

    async def stop(self) -> None:
        await self._batcher.stop(ApiError(grpc.StatusCode.UNAVAILABLE, "leadership lost"))

    async def submit(self, item: WriteItem) -> Message:
        return await self._batcher.submit(item)

    # ----------------------------------------------------------------- batch

    async def _process(self, batch: list[Pending[WriteItem, Message]]) -> None:
        metrics.BATCH_SIZE.observe(len(batch))
        for round_ in _rounds(batch):
            await self._process_round(round_)
        metrics.RESERVATIONS.set(len(self.ledger))

    async def _process_round(self, batch: list[Pending[WriteItem, Message]]) -> None:
        """Schedule and commit one round. Request ids are checked optimistically: the commit
        compares every call's request key to absent, so a round of new calls costs no read;
        when a key exists (a retry), the round is undone, the recorded answers are read and
        the rest runs again. A round with more calls than a txn can compare reads first."""
        await self._requests.refresh_lease()
        prepared = self._admit(batch)
        calls = sum(1 for item in prepared if item.call is not None)
        if calls <= self._leadership.max_ops and await self._try_round(prepared, verify_new=True):
            return
        await self._try_round(await self._answer_repeats(prepared), verify_new=False)

    async def _try_round(self, prepared: list[_Prepared], *, verify_new: bool) -> bool:
        """Schedule and commit; False (and nothing changed) when a call turned out to be a
        repeat. Answers are given only after the commit."""
        checkpoint = self.ledger.checkpoint()
        self._undo = {}
        self._round_cycle = None
        self._stamp = _now()
        self._schedule(prepared)
        compares = self._requests_absent(prepared) if verify_new else []
        try:
            committed = await self._commit(prepared, compares)
        except BaseException as exc:
            self._undo_round(checkpoint)
            error = ApiError(grpc.StatusCode.UNAVAILABLE, f"not committed: {exc}")
            for item in prepared:
                if not item.pending.future.done():
                    item.pending.future.set_exception(error)
            raise
        if not committed:
            self._undo_round(checkpoint)
            return False
        self.ledger.commit()
        for item in prepared:
            self._answer(item)
        return True

    def _requests_absent(self, prepared: list[_Prepared]) -> list[Compare]:
        """No call of the round has been answered before: its request key does not exist."""
        return [
            Compare.absent(self._keys.request(item.call.request_id))
            for item in prepared
            if item.call is not None
        ]

    def _undo_round(self, checkpoint: int) -> None:
        self.ledger.rollback(checkpoint)
        self._roll_back_workloads()

    def _answer(self, item: _Prepared) -> None:
        if item.workload is not None:
            self._on_commit(item.workload)
        if item.pending.future.done():
            return
        if item.error is not None:
            item.pending.future.set_exception(item.error)
        elif item.response is not None:
            item.pending.future.set_result(item.response)

    def _set_workload(self, key: tuple[str, str], workload: types_pb2.Workload | None) -> None:
        """Change the in-memory records, remembering how to undo it if the commit fails."""
        if key not in self._undo:
            self._undo[key] = self.workloads.get(key)
        if workload is None:
            self.workloads.pop(key, None)
        else:
            self.workloads[key] = workload

    def _roll_back_workloads(self) -> None:
        for key, before in self._undo.items():
            if before is None:
                self.workloads.pop(key, None)
            else:
                self.workloads[key] = before
        self._undo = {}

    def _admit(self, batch: list[Pending[WriteItem, Message]]) -> list[_Prepared]:
        """The round's writes; a call with an invalid request id is refused at once."""
        prepared: list[_Prepared] = []
        for pending in batch:
            item = pending.item
            if isinstance(item, _INTERNAL):
                prepared.append(_Prepared(pending))
                continue
            method, request = item
            request_id: str = getattr(request, "request_id", "")
            try:
                check_request_id(request_id)
            except ApiError as error:
                pending.future.set_exception(error)
                continue
            prepared.append(_Prepared(pending, Call(request_id, method, digest(method, request))))
        return prepared

    async def _answer_repeats(self, prepared: list[_Prepared]) -> list[_Prepared]:
        """Answer repeated calls from the request log (one read); the other writes, afresh."""
        calls = [item.call for item in prepared if item.call is not None]
        answers = iter(await self._requests.answers(calls))
        remaining: list[_Prepared] = []
        for item in prepared:
            answer = next(answers) if item.call is not None else None
            future = item.pending.future
            if isinstance(answer, RequestIdReused):
                future.set_exception(ApiError(grpc.StatusCode.ALREADY_EXISTS, str(answer)))
            elif answer is not None and item.call is not None:
                future.set_result(_response_type(item.call.method)().FromString(answer))
            else:
                remaining.append(_Prepared(item.pending, item.call))
        return remaining

    def _schedule(self, prepared: list[_Prepared]) -> None:
        placements: list[tuple[_Prepared, PlacementRequest, types_pb2.WorkloadSpec]] = []
        for item in prepared:
            try:
                planned = self._plan(item)
                if planned is not None:
                    self._engine.validate(planned[0])  # one bad request must not fail the batch
            except ApiError as error:
                item.error = error
                continue
            except PolicyError as error:
                item.error = invalid(error.field, error.message)
                continue
            if planned is not None:
                placements.append((item, *planned))
        if not placements:
            return
        outcomes = self._engine.schedule_batch(
            self._snapshot(), self.ledger, [request for _, request, _ in placements]
        )
        for (item, _, spec), outcome in zip(placements, outcomes, strict=True):
            self._apply_outcome(item, spec, outcome)

    def _plan(self, item: _Prepared) -> tuple[PlacementRequest, types_pb2.WorkloadSpec] | None:
        """The engine request for a place or scale; deletes and reports are handled here."""
        work = item.pending.item
        if isinstance(work, PhaseReport):
            self._apply_report(item, work)
            return None
        if isinstance(work, Finalize):
            self._apply_finalize(item, work)
            return None
        if isinstance(work, Evacuate | CompleteMove | ReturnMove | Refused):
            self._apply_move(item, work)
            return None
        method, request = work
        if isinstance(request, federation_pb2.PlaceWorkloadRequest):
            return self._plan_place(item, request)
        if isinstance(request, federation_pb2.ScaleWorkloadRequest):
            return self._plan_scale(request)
        if isinstance(request, federation_pb2.DeleteWorkloadRequest):
            self._apply_delete(item, request)
            return None
        raise ApiError(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not a workload write")

    def _plan_place(
        self, item: _Prepared, request: federation_pb2.PlaceWorkloadRequest
    ) -> tuple[PlacementRequest, types_pb2.WorkloadSpec] | None:
        spec = request.spec
        validate_spec(spec)
        existing = self.workloads.get((spec.namespace, spec.name))
        if existing is not None:
            if existing.spec != spec or existing.phase == Phase.WORKLOAD_PHASE_DELETING:
                raise ApiError(
                    grpc.StatusCode.ALREADY_EXISTS,
                    f"workload {spec.namespace}/{spec.name} exists with a different spec "
                    "(or is being deleted); use ScaleWorkload or another name",
                )
            item.response = federation_pb2.PlaceWorkloadResponse(workload=existing)
            return None
        return PlacementRequest.from_spec(spec, request_id=request.request_id), spec

    def _plan_scale(
        self, request: federation_pb2.ScaleWorkloadRequest
    ) -> tuple[PlacementRequest, types_pb2.WorkloadSpec]:
        existing = self._existing(request.namespace, request.name)
        if request.replicas < 0:
            raise invalid("replicas", "must be >= 0")
        spec = types_pb2.WorkloadSpec()
        spec.CopyFrom(existing.spec)
        spec.replicas = request.replicas
        return (
            PlacementRequest.from_spec(spec, existing.placement, request_id=request.request_id),
            spec,
        )

    def _existing(self, namespace: str, name: str) -> types_pb2.Workload:
        check_name("namespace", namespace)
        check_name("name", name)
        existing = self.workloads.get((namespace, name))
        if existing is None:
            raise not_found(f"workload {namespace}/{name}")
        if existing.phase == Phase.WORKLOAD_PHASE_DELETING:
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION, f"workload {namespace}/{name} is being deleted"
            )
        return existing

    def _apply_outcome(
        self, item: _Prepared, spec: types_pb2.WorkloadSpec, outcome: Outcome
    ) -> None:
        decision, changes = outcome.decision, outcome.changes
        if not decision.ok:
            reasons = "; ".join(decision.reasons()) or decision.status.message()
            item.error = ApiError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"cannot place {decision.workload} ({spec.replicas} replicas): {reasons}",
            )
            return
        workload = self._next_record(spec, _placement(decision, self._leadership.epoch))
        epoch = self._leadership.epoch
        for reservation in changes.upserts:
            reservation.epoch = epoch
            key = self._keys.reservation(reservation.cluster, reservation.id)
            item.ops.append(Put(key, reservation.SerializeToString()))
        for reservation in changes.releases:
            item.ops.append(Delete(self._keys.reservation(reservation.cluster, reservation.id)))
        method, _ = _call(item.pending.item)
        response = _response_type(method)(workload=workload, unplaced_replicas=decision.unplaced)
        self._finish(item, workload, response)

    def _finish(self, item: _Prepared, workload: types_pb2.Workload, response: Message) -> None:
        """Stage the workload record and the request's answer with the item's other ops."""
        key = self._keys.workload(workload.spec.namespace, workload.spec.name)
        item.ops.append(Put(key, workload.SerializeToString()))
        call = item.call
        if call is None:
            raise TypeError("not an API call")
        item.ops.append(
            self._requests.record(call.request_id, call.method, call.digest, response, self._stamp)
        )
        item.response = response
        item.workload = workload
        self._set_workload((workload.spec.namespace, workload.spec.name), workload)

    def _next_record(
        self, spec: types_pb2.WorkloadSpec, placement: types_pb2.Placement
    ) -> types_pb2.Workload:
        previous = self.workloads.get((spec.namespace, spec.name))
        now = self._stamp
        record = types_pb2.Workload(spec=spec, placement=placement, updated_at=now)
        held = {p.cluster: p for p in previous.placement.clusters} if previous else {}
        for part in record.placement.clusters:
            before = held.get(part.cluster)
            if before is not None and before.replicas == part.replicas:
                part.phase = before.phase
                part.ready_replicas = before.ready_replicas
            else:
                part.phase = Phase.WORKLOAD_PHASE_RESERVED
        record.generation = (previous.generation if previous else 0) + 1
        record.created_at.CopyFrom(previous.created_at if previous else now)
        record.phase = overall_phase(record)
        return record

    def _apply_delete(self, item: _Prepared, request: federation_pb2.DeleteWorkloadRequest) -> None:
        existing = self._existing(request.namespace, request.name)
        record = types_pb2.Workload()
        record.CopyFrom(existing)
        record.phase = Phase.WORKLOAD_PHASE_DELETING
        record.updated_at.CopyFrom(self._stamp)
        response = federation_pb2.DeleteWorkloadResponse(workload=record)
        self._finish(item, record, response)

    def _apply_report(self, item: _Prepared, report: PhaseReport) -> None:
        existing = self.workloads.get((report.namespace, report.name))
        if existing is None or existing.phase == Phase.WORKLOAD_PHASE_DELETING:
            item.response = types_pb2.Workload()
            return
        record = types_pb2.Workload()
        record.CopyFrom(existing)
        parts = list(record.placement.clusters)
        del record.placement.clusters[:]
        for part in parts:
            if part.cluster == report.cluster and part.replicas == report.replicas:
                if part.replicas == 0 and report.phase == Phase.WORKLOAD_PHASE_UNSPECIFIED:
                    continue
                part.phase = report.phase
                part.ready_replicas = report.ready_replicas
                part.message = report.message
                if report.phase == Phase.WORKLOAD_PHASE_APPLIED:
                    part.replaces = ""  # applied: a later refusal may re-place it once again
            record.placement.clusters.append(part)
        record.phase = overall_phase(record)
        if record == existing:
            item.response = record
            return
        record.updated_at.CopyFrom(self._stamp)
        self._set_workload((report.namespace, report.name), record)
        key = self._keys.workload(report.namespace, report.name)
        item.ops.append(Put(key, record.SerializeToString()))
        item.response = record
        item.workload = record

    def _apply_move(
        self, item: _Prepared, move: Evacuate | CompleteMove | ReturnMove | Refused
    ) -> None:
        """A migration step; the response is the record after it (unchanged if it waits)."""
        key = (move.namespace, move.name)
        existing = self.workloads.get(key)
        if existing is None or existing.phase == Phase.WORKLOAD_PHASE_DELETING:
            item.response = types_pb2.Workload()
            return
        if isinstance(move, Evacuate):
            result = migration.evacuate(existing, move, self._cycle(), self.ledger, self._keys)
        elif isinstance(move, ReturnMove):
            result = migration.return_back(existing, move, self._cycle(), self.ledger, self._keys)
        elif isinstance(move, Refused):
            result = migration.replace_refused(
                existing, move, self._cycle(), self.ledger, self._keys
            )
        else:
            result = migration.complete(existing, move, self.ledger, self._keys)
        if result.record is None:
            item.response = existing
            return
        record = result.record
        record.phase = overall_phase(record)
        record.updated_at.CopyFrom(self._stamp)
        record.placement.epoch = self._leadership.epoch
        self._set_workload(key, record)
        item.ops += result.ops
        item.ops.append(Put(self._keys.workload(*key), record.SerializeToString()))
        item.response = record
        item.workload = record

    def _cycle(self) -> Cycle:
        """One engine cycle per round for migration steps (capacity shared with placements)."""
        if self._round_cycle is None:
            self._round_cycle = self._engine.cycle(self._snapshot(), self.ledger)
        return self._round_cycle

    def _apply_finalize(self, item: _Prepared, finalize: Finalize) -> None:
        existing = self.workloads.get((finalize.namespace, finalize.name))
        item.response = types_pb2.Workload()
        if existing is None:
            return
        self._set_workload((finalize.namespace, finalize.name), None)
        item.ops.append(Delete(self._keys.workload(finalize.namespace, finalize.name)))
        for part in existing.placement.clusters:
            if part.reservation_id and self.ledger.release(part.cluster, part.reservation_id):
                item.ops.append(Delete(self._keys.reservation(part.cluster, part.reservation_id)))

    async def _commit(self, prepared: list[_Prepared], compares: Sequence[Compare]) -> bool:
        """Fenced transactions, never splitting one request's ops across two of them. The
        first carries `compares`; False (nothing written) when one of them failed."""
        chunk: list[Op] = []
        first = True
        for item in prepared:
            if chunk and len(chunk) + len(item.ops) > self._leadership.max_ops:
                if not await self._commit_chunk(chunk, compares if first else ()):
                    return False
                chunk, first = [], False
            chunk.extend(item.ops)
        if chunk or (first and compares):
            return await self._commit_chunk(chunk, compares if first else ())
        return True

    async def _commit_chunk(self, ops: list[Op], compares: Sequence[Compare]) -> bool:
        return (await self._leadership.txn(ops, compares)).succeeded


def _placement(decision: Decision, epoch: int) -> types_pb2.Placement:
    """The decided placement, keeping clusters that lost every replica (to be removed)."""
    placement = decision.placement(epoch)
    for item in decision.assignments:
        if item.replicas == 0 and item.previous > 0:
            placement.clusters.append(
                types_pb2.ClusterPlacement(
                    cluster=item.cluster, replicas=0, reservation_id=item.reservation_id
                )
            )
    return placement


def _call(item: WriteItem) -> tuple[str, Message]:
    if isinstance(item, _INTERNAL):
        raise TypeError("not an API call")
    return item


def _rounds(
    batch: Sequence[Pending[WriteItem, Message]],
) -> list[list[Pending[WriteItem, Message]]]:
    """Split a batch so that no round touches one workload, or uses one request id, twice
    (later ones wait a round and find the earlier one's effect and answer)."""
    rounds: list[list[Pending[WriteItem, Message]]] = []
    seen: list[set[tuple[str, ...]]] = []
    for pending in batch:
        keys = _round_keys(pending.item)
        index = next((i for i, used in enumerate(seen) if used.isdisjoint(keys)), len(rounds))
        if index == len(rounds):
            rounds.append([])
            seen.append(set())
        rounds[index].append(pending)
        seen[index].update(keys)
    return rounds


def _round_keys(item: WriteItem) -> set[tuple[str, ...]]:
    keys: set[tuple[str, ...]] = {("workload", *_workload_key(item))}
    request_id = "" if isinstance(item, _INTERNAL) else getattr(item[1], "request_id", "")
    if request_id:  # a call without one is refused before anything is written
        keys.add(("request", request_id))
    return keys


def _workload_key(item: WriteItem) -> tuple[str, str]:
    if isinstance(item, _INTERNAL):
        return item.namespace, item.name
    _, request = item
    spec = getattr(request, "spec", None)
    if spec is not None:
        return spec.namespace, spec.name
    return getattr(request, "namespace", ""), getattr(request, "name", "")


def _response_type(method: str) -> Callable[..., Message]:
    types: dict[str, Callable[..., Message]] = {
        "PlaceWorkload": federation_pb2.PlaceWorkloadResponse,
        "ScaleWorkload": federation_pb2.ScaleWorkloadResponse,
        "DeleteWorkload": federation_pb2.DeleteWorkloadResponse,
    }
    return types[method]


def validate_spec(spec: types_pb2.WorkloadSpec) -> None:
    check_name("spec.namespace", spec.namespace)
    check_name("spec.name", spec.name)
    if spec.replicas < 0:
        raise invalid("spec.replicas", "must be >= 0")
    if spec.resources.cpu_millis <= 0 and spec.resources.memory_bytes <= 0:
        raise invalid("spec.resources", "a replica must request cpu or memory")
    if spec.template_json:
        try:
            template = json.loads(spec.template_json)
        except ValueError as exc:
            raise invalid("spec.template_json", f"not JSON: {exc}") from exc
        if not isinstance(template, dict) or template.get("kind", "Deployment") != "Deployment":
            raise invalid("spec.template_json", "must be an apps/v1 Deployment manifest")


def overall_phase(workload: types_pb2.Workload) -> Phase.ValueType:
    """The least advanced phase over the clusters (Ready only when every part is)."""
    if workload.phase == Phase.WORKLOAD_PHASE_DELETING:
        return workload.phase
    parts = [p for p in workload.placement.clusters if p.replicas > 0]
    if not parts:
        return (
            Phase.WORKLOAD_PHASE_READY
            if workload.spec.replicas == 0
            else Phase.WORKLOAD_PHASE_PENDING
        )
    order = [
        Phase.WORKLOAD_PHASE_FAILED,
        Phase.WORKLOAD_PHASE_DEGRADED,
        Phase.WORKLOAD_PHASE_PENDING,
        Phase.WORKLOAD_PHASE_RESERVED,
        Phase.WORKLOAD_PHASE_APPLIED,
        Phase.WORKLOAD_PHASE_READY,
    ]
    return min(
        (p.phase for p in parts), key=lambda phase: order.index(phase) if phase in order else 0
    )


def _now() -> Timestamp:
    nanoseconds = time.time_ns()
    return Timestamp(seconds=nanoseconds // 1_000_000_000, nanos=nanoseconds % 1_000_000_000)
