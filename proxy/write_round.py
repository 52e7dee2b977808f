"""One round of the workload writer, planned in memory: every write decided against the
records and the ledger, placements scheduled as one engine batch, and each write's etcd ops
and answer staged for the round's fenced commit (see proxy.workloads, which commits them).

Synchronous and compiled (tools/native.py): a round runs once per batch on the leader's
event loop, so what it costs per request is what the leader can place per second.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from common.etcd_store import TXN_MARGIN, Compare, Delete, Op, Put
from common.keys import Keys
from common.settings import EtcdSettings
from fed.v1 import federation_pb2, types_pb2
from proxy import migration
from proxy.errors import ApiError, check_name, check_request_id, invalid, not_found
from proxy.known_records import KnownRecords
from proxy.ledger import Ledger
from proxy.migration import Abandon, CompleteMove, Evacuate, Move, Refused, ReturnMove
from proxy.requests import Call, RequestLog, digest
from proxy.scheduler.batcher import Pending
from proxy.scheduler.cycle import Cycle
from proxy.scheduler.decision import Decision
from proxy.scheduler.engine import Engine, Outcome
from proxy.scheduler.model import PlacementRequest, Snapshot
from proxy.scheduler.policy import PolicyError

Phase = types_pb2.WorkloadPhase

RECORD_ROOM = 128 * 1024
"""What a placement's transaction holds besides its spec, twice: the placement's parts (also
twice), reservations, keys, timestamps, the request record's other fields, the round's
compares."""


def spec_limit(txn_bytes: int) -> int:
    """The largest serialized spec a placement may carry in a transaction of `txn_bytes`: its
    ops hold the spec twice (the workload record, and the answer kept for its request_id)."""
    return (txn_bytes - RECORD_ROOM) // 2


DEFAULT_SPEC_LIMIT = spec_limit(EtcdSettings.max_request_bytes - TXN_MARGIN)


@dataclass(frozen=True)
class PartReport:
    """What the binder learned about one cluster's part of a workload.

    `replicas` is the part's size when the binder acted: a report about a part that has
    changed since (a move or scale re-grew it) is stale and ignored.
    """

    cluster: str
    replicas: int
    phase: Phase.ValueType
    ready_replicas: int = 0
    message: str = ""


@dataclass(frozen=True)
class PhaseReport:
    """What one binding pass learned about a workload's parts (one record write for all)."""

    namespace: str
    name: str
    parts: tuple[PartReport, ...]


@dataclass(frozen=True)
class Finalize:
    """The workload is gone from every cluster: drop its record and reservations."""

    namespace: str
    name: str


WriteItem = tuple[str, Message] | PhaseReport | Finalize | Move
INTERNAL = (PhaseReport, Finalize, Evacuate, CompleteMove, ReturnMove, Refused, Abandon)


@dataclass
class Prepared:
    """One write of a round: its ops, and its answer once the round commits (`error` or
    `response`; answers wait for the commit, which proves the call was not a repeat)."""

    pending: Pending[WriteItem, Message]
    call: Call | None = None
    ops: list[Op] = field(default_factory=list)
    response: Message | None = None
    error: Exception | None = None
    workload: types_pb2.Workload | None = None


class RoundPlanner:
    """Plans the writer's rounds over its in-memory records and ledger (the leader's only).

    `plan` changes the records and the ledger in memory and remembers how to undo it:
    `undo` when the commit fails or turns out to repeat a call, `keep` once it committed.
    """

    def __init__(
        self,
        keys: Keys,
        engine: Engine,
        ledger: Ledger,
        workloads: dict[tuple[str, str], types_pb2.Workload],
        requests: RequestLog,
        snapshot: Callable[[], Snapshot],
        known: KnownRecords,
        max_spec_bytes: int = DEFAULT_SPEC_LIMIT,
    ) -> None:
        self._keys = keys
        self._known = known
        self._max_spec_bytes = max_spec_bytes
        self._engine = engine
        self.ledger = ledger
        self.workloads = workloads
        self._requests = requests
        self._snapshot = snapshot
        self._undo: dict[tuple[str, str], types_pb2.Workload | None] = {}
        self._checkpoint = 0
        self._round_cycle: Cycle | None = None
        self._epoch = 0
        self._stamp = now()
        """The time a round stamps its records with (one clock read per round)."""

    def plan(self, prepared: list[Prepared], epoch: int) -> None:
        """Decide and stage every write of the round (answers wait for the commit)."""
        self._checkpoint = self.ledger.checkpoint()
        self._undo = {}
        self._round_cycle = None
        self._epoch = epoch
        self._stamp = now()
        self._schedule(prepared)

    def keep(self) -> None:
        """The round committed: its changes can no longer be undone."""
        self.ledger.commit()
        self._undo = {}

    def undo(self) -> None:
        """Forget the round: the records and the ledger as they were before `plan`."""
        self.ledger.rollback(self._checkpoint)
        for key, before in self._undo.items():
            if before is None:
                self.workloads.pop(key, None)
            else:
                self.workloads[key] = before
        self._undo = {}

    def _stage(self, item: Prepared, key: str, record: Message) -> None:
        """Put `record` at `key` with the item's other ops; the leader's cache will take the
        record itself rather than decode the bytes again (see proxy.known_records)."""
        value = record.SerializeToString()
        item.ops.append(Put(key, value))
        self._known.remember(key, value, record)

    def _set_workload(self, key: tuple[str, str], workload: types_pb2.Workload | None) -> None:
        """Change the in-memory records, remembering how to undo it if the commit fails."""
        if key not in self._undo:
            self._undo[key] = self.workloads.get(key)
        if workload is None:
            self.workloads.pop(key, None)
        else:
            self.workloads[key] = workload

    def _schedule(self, prepared: list[Prepared]) -> None:
        placements: list[tuple[Prepared, PlacementRequest, types_pb2.WorkloadSpec]] = []
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

    def _plan(self, item: Prepared) -> tuple[PlacementRequest, types_pb2.WorkloadSpec] | None:
        """The engine request for a place or scale; deletes and reports are handled here."""
        work = item.pending.item
        if isinstance(work, PhaseReport):
            self._apply_report(item, work)
            return None
        if isinstance(work, Finalize):
            self._apply_finalize(item, work)
            return None
        if isinstance(work, Move):
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
        self, item: Prepared, request: federation_pb2.PlaceWorkloadRequest
    ) -> tuple[PlacementRequest, types_pb2.WorkloadSpec] | None:
        spec = request.spec
        validate_spec(spec)
        size = spec.ByteSize()
        if size > self._max_spec_bytes:
            raise invalid(
                "spec",
                f"{size:,} bytes serialized, over the {self._max_spec_bytes:,} a placement may "
                "carry: one etcd transaction (etcd.max_request_bytes) holds it twice, in the "
                "workload record and in the answer kept for its request_id",
            )
        existing = self.workloads.get((spec.namespace, spec.name))
        if existing is not None:
            if existing.spec != spec or existing.phase == types_pb2.WORKLOAD_PHASE_DELETING:
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
        moving = migration.moving_operation(existing)
        if moving:
            # The record holds the move's source and targets at once: a scale now would count
            # the leaving replicas twice and drop the move's tags.
            raise ApiError(
                grpc.StatusCode.ABORTED,
                f"workload {request.namespace}/{request.name} is moving (operation {moving}); "
                "scale it when the move ends",
            )
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
        if existing.phase == types_pb2.WORKLOAD_PHASE_DELETING:
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION, f"workload {namespace}/{name} is being deleted"
            )
        return existing

    def _apply_outcome(
        self, item: Prepared, spec: types_pb2.WorkloadSpec, outcome: Outcome
    ) -> None:
        decision, changes = outcome.decision, outcome.changes
        if not decision.ok:
            reasons = "; ".join(decision.reasons()) or decision.status.message()
            item.error = ApiError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"cannot place {decision.workload} ({spec.replicas} replicas): {reasons}",
            )
            return
        workload = self._next_record(spec, decision)
        epoch = self._epoch
        for reservation in changes.upserts:
            reservation.epoch = epoch
            key = self._keys.reservation(reservation.cluster, reservation.id)
            self._stage(item, key, reservation)
        for reservation in changes.releases:
            item.ops.append(Delete(self._keys.reservation(reservation.cluster, reservation.id)))
        method, _ = _call(item.pending.item)
        response = response_type(method)(workload=workload, unplaced_replicas=decision.unplaced)
        self._finish(item, workload, response)

    def _finish(self, item: Prepared, workload: types_pb2.Workload, response: Message) -> None:
        """Stage the workload record and the request's answer with the item's other ops."""
        key = self._keys.workload(workload.spec.namespace, workload.spec.name)
        self._stage(item, key, workload)
        call = item.call
        if call is None:
            raise TypeError("not an API call")
        item.ops.append(
            self._requests.record(call.request_id, call.method, call.digest, response, self._stamp)
        )
        item.response = response
        item.workload = workload
        self._set_workload((workload.spec.namespace, workload.spec.name), workload)

    def _next_record(self, spec: types_pb2.WorkloadSpec, decision: Decision) -> types_pb2.Workload:
        """The workload's record after the decision, its placement written in place (no
        Placement message built and copied: this runs once per placement)."""
        previous = self.workloads.get((spec.namespace, spec.name))
        now = self._stamp
        record = types_pb2.Workload(spec=spec, updated_at=now)
        _write_placement(record.placement, decision, self._epoch)
        held: dict[str, types_pb2.ClusterPlacement] = {}
        if previous is not None:
            migration.keep_pending_removal(record, previous)
            held = {p.cluster: p for p in previous.placement.clusters}
        for part in record.placement.clusters:
            before = held.get(part.cluster)
            if before is not None and before.replicas == part.replicas:
                part.phase = before.phase
                part.ready_replicas = before.ready_replicas
            else:
                part.phase = types_pb2.WORKLOAD_PHASE_RESERVED
        record.generation = (previous.generation if previous else 0) + 1
        record.created_at.CopyFrom(previous.created_at if previous else now)
        record.phase = overall_phase(record)
        return record

    def _apply_delete(self, item: Prepared, request: federation_pb2.DeleteWorkloadRequest) -> None:
        existing = self._existing(request.namespace, request.name)
        record = types_pb2.Workload()
        record.CopyFrom(existing)
        record.phase = types_pb2.WORKLOAD_PHASE_DELETING
        record.updated_at.CopyFrom(self._stamp)
        response = federation_pb2.DeleteWorkloadResponse(workload=record)
        self._finish(item, record, response)

    def _apply_report(self, item: Prepared, report: PhaseReport) -> None:
        existing = self.workloads.get((report.namespace, report.name))
        if existing is None or existing.phase == types_pb2.WORKLOAD_PHASE_DELETING:
            item.response = types_pb2.Workload()
            return
        record = types_pb2.Workload()
        record.CopyFrom(existing)
        reported = {(part.cluster, part.replicas): part for part in report.parts}
        parts = list(record.placement.clusters)
        del record.placement.clusters[:]
        for part in parts:
            learned = reported.get((part.cluster, part.replicas))
            if learned is not None:
                if part.replicas == 0 and learned.phase == types_pb2.WORKLOAD_PHASE_UNSPECIFIED:
                    continue
                part.phase = learned.phase
                part.ready_replicas = learned.ready_replicas
                part.message = learned.message
                if learned.phase == types_pb2.WORKLOAD_PHASE_APPLIED:
                    part.replaces = ""  # applied: a later refusal may re-place it once again
            record.placement.clusters.append(part)
        record.phase = overall_phase(record)
        if record == existing:
            item.response = record
            return
        record.updated_at.CopyFrom(self._stamp)
        self._set_workload((report.namespace, report.name), record)
        key = self._keys.workload(report.namespace, report.name)
        self._stage(item, key, record)
        item.response = record
        item.workload = record

    def _apply_move(self, item: Prepared, move: Move) -> None:
        """A migration step; the response is the record after it (unchanged if it waits)."""
        key = (move.namespace, move.name)
        existing = self.workloads.get(key)
        deleting = existing is not None and existing.phase == types_pb2.WORKLOAD_PHASE_DELETING
        if existing is None or (deleting and not isinstance(move, Abandon)):
            item.response = types_pb2.Workload()
            return
        if isinstance(move, Abandon):
            result = migration.abandon(existing, move, self._cycle(), self.ledger, self._keys)
        elif isinstance(move, Evacuate):
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
        record.placement.epoch = self._epoch
        self._set_workload(key, record)
        item.ops += result.ops
        self._stage(item, self._keys.workload(*key), record)
        item.response = record
        item.workload = record

    def _cycle(self) -> Cycle:
        """One engine cycle per round for migration steps (capacity shared with placements)."""
        if self._round_cycle is None:
            self._round_cycle = self._engine.cycle(self._snapshot(), self.ledger)
        return self._round_cycle

    def _apply_finalize(self, item: Prepared, finalize: Finalize) -> None:
        existing = self.workloads.get((finalize.namespace, finalize.name))
        item.response = types_pb2.Workload()
        if existing is None:
            return
        self._set_workload((finalize.namespace, finalize.name), None)
        item.ops.append(Delete(self._keys.workload(finalize.namespace, finalize.name)))
        for part in existing.placement.clusters:
            if part.reservation_id and self.ledger.release(part.cluster, part.reservation_id):
                item.ops.append(Delete(self._keys.reservation(part.cluster, part.reservation_id)))


def admit(batch: list[Pending[WriteItem, Message]]) -> list[Prepared]:
    """The round's writes; a call with an invalid request id is refused at once."""
    prepared: list[Prepared] = []
    for pending in batch:
        item = pending.item
        if isinstance(item, INTERNAL):
            prepared.append(Prepared(pending))
            continue
        method, request = item
        request_id: str = getattr(request, "request_id", "")
        try:
            check_request_id(request_id)
        except ApiError as error:
            pending.future.set_exception(error)
            continue
        prepared.append(Prepared(pending, Call(request_id, method, digest(method, request))))
    return prepared


def requests_absent(keys: Keys, prepared: Sequence[Prepared]) -> list[Compare]:
    """No call of the round has been answered before: its request key does not exist."""
    return [Compare.absent(keys.request(item.call.request_id)) for item in prepared if item.call]


def _write_placement(placement: types_pb2.Placement, decision: Decision, epoch: int) -> None:
    """The decided placement, then the clusters that lost every replica (to be removed)."""
    decision.write_placement(placement, epoch)
    for item in decision.assignments:
        if item.replicas == 0 and item.previous > 0:
            placement.clusters.add(
                cluster=item.cluster, replicas=0, reservation_id=item.reservation_id
            )


def _call(item: WriteItem) -> tuple[str, Message]:
    if isinstance(item, INTERNAL):
        raise TypeError("not an API call")
    return item


def rounds(
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
    request_id = "" if isinstance(item, INTERNAL) else getattr(item[1], "request_id", "")
    if request_id:  # a call without one is refused before anything is written
        keys.add(("request", request_id))
    return keys


def _workload_key(item: WriteItem) -> tuple[str, str]:
    if isinstance(item, INTERNAL):
        return item.namespace, item.name
    _, request = item
    spec = getattr(request, "spec", None)
    if spec is not None:
        return spec.namespace, spec.name
    return getattr(request, "namespace", ""), getattr(request, "name", "")


_RESPONSE_TYPES: dict[str, Callable[..., Message]] = {
    "PlaceWorkload": federation_pb2.PlaceWorkloadResponse,
    "ScaleWorkload": federation_pb2.ScaleWorkloadResponse,
    "DeleteWorkload": federation_pb2.DeleteWorkloadResponse,
}


def response_type(method: str) -> Callable[..., Message]:
    return _RESPONSE_TYPES[method]


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


_PROGRESS = {
    phase: rank
    for rank, phase in enumerate(
        (
            types_pb2.WORKLOAD_PHASE_FAILED,
            types_pb2.WORKLOAD_PHASE_DEGRADED,
            types_pb2.WORKLOAD_PHASE_PENDING,
            types_pb2.WORKLOAD_PHASE_RESERVED,
            types_pb2.WORKLOAD_PHASE_APPLIED,
            types_pb2.WORKLOAD_PHASE_READY,
        )
    )
}
"""How far a part's phase has come (any other phase counts as least advanced)."""


def overall_phase(workload: types_pb2.Workload) -> Phase.ValueType:
    """The least advanced phase over the clusters (Ready only when every part is)."""
    if workload.phase == types_pb2.WORKLOAD_PHASE_DELETING:
        return workload.phase
    least: Phase.ValueType | None = None
    least_rank = len(_PROGRESS)
    for part in workload.placement.clusters:
        if part.replicas > 0:
            rank = _PROGRESS.get(part.phase, 0)
            if rank < least_rank:
                least, least_rank = part.phase, rank
    if least is not None:
        return least
    if workload.spec.replicas == 0:
        return types_pb2.WORKLOAD_PHASE_READY
    return types_pb2.WORKLOAD_PHASE_PENDING


def now() -> Timestamp:
    nanoseconds = time.time_ns()
    return Timestamp(seconds=nanoseconds // 1_000_000_000, nanos=nanoseconds % 1_000_000_000)
