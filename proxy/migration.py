"""Moving a workload's replicas off clusters: the record changes a migration makes.

The workload record is the migration's source of truth, written in one fenced transaction
with its reservations by the workload writer: parts a move added carry its operation id,
and in graceful mode the source part carries `leaving`, the replicas that go once every
target is Ready. A new leader resumes a half-done move from the records alone.

Nothing is deleted when nothing fits: what cannot be placed stays where it was, its part
marked Degraded with the reasons.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from common.etcd_store import Delete, Op, Put
from common.keys import Keys
from fed.v1 import types_pb2
from proxy.ledger import Ledger, OverCommitError
from proxy.scheduler.cycle import Cycle
from proxy.scheduler.decision import Changes, Decision
from proxy.scheduler.model import PlacementRequest
from proxy.scheduler.resources import UNLIMITED, Quantity
from proxy.scheduler.validation import resolve_policy

_SHRINK_ONLY = Quantity(UNLIMITED, UNLIMITED, UNLIMITED, UNLIMITED)


@dataclass(frozen=True)
class Evacuate:
    """Re-place the workload's replicas on `sources` elsewhere (one step of an operation)."""

    namespace: str
    name: str
    sources: frozenset[str]
    operation_id: str
    mode: types_pb2.FailoverMode.ValueType


@dataclass(frozen=True)
class CompleteMove:
    """Finish the operation's move once every target part is Ready."""

    namespace: str
    name: str
    operation_id: str


@dataclass(frozen=True)
class ReturnMove:
    """Fail back: bring `replicas` back to `to_cluster` from `from_clusters` (graceful)."""

    namespace: str
    name: str
    to_cluster: str
    from_clusters: tuple[str, ...]
    replicas: int
    operation_id: str


@dataclass(frozen=True)
class Refused:
    """A cluster refused to apply its part (FAILED_PRECONDITION: a name clash, a quota, an
    admission rule): release that reservation and re-place the replicas elsewhere, once.

    `replicas` is the part's size when the binder acted: a part changed since is not touched.
    """

    namespace: str
    name: str
    cluster: str
    replicas: int
    reason: str


@dataclass(frozen=True)
class Abandon:
    """`cluster` was removed while parts of this workload were on it (RemoveCluster with
    force): drop those parts without removing their Deployments (no worker serves the
    cluster any more), release their reservations and place the replicas elsewhere."""

    namespace: str
    name: str
    cluster: str


Move = Evacuate | CompleteMove | ReturnMove | Refused | Abandon
"""A migration step the workload writer applies to one workload record."""


@dataclass
class MoveResult:
    record: types_pb2.Workload | None  # the new record, None when nothing changes
    ops: list[Op]


def in_flight(workload: types_pb2.Workload) -> bool:
    return bool(moving_operation(workload))


def moving_operation(workload: types_pb2.Workload) -> str:
    """The id of the operation moving this workload ("" when none is)."""
    return next((p.operation_id for p in workload.placement.clusters if p.operation_id), "")


def refused_target(
    workload: types_pb2.Workload, operation_id: str
) -> types_pb2.ClusterPlacement | None:
    """A target part of the operation's move that Failed (its cluster refused the apply)."""
    for part in workload.placement.clusters:
        target = part.operation_id == operation_id and not part.leaving and part.replicas > 0
        if target and part.phase == types_pb2.WORKLOAD_PHASE_FAILED:
            return part
    return None


def held_on(workload: types_pb2.Workload, sources: frozenset[str]) -> int:
    """Replicas still on `sources` that no move is already taking away."""
    return sum(
        part.replicas - part.leaving
        for part in workload.placement.clusters
        if part.cluster in sources
    )


def evacuate(
    workload: types_pb2.Workload, move: Evacuate, cycle: Cycle, ledger: Ledger, keys: Keys
) -> MoveResult:
    if in_flight(workload) or held_on(workload, move.sources) == 0:
        return MoveResult(None, [])
    request = PlacementRequest.from_spec(
        workload.spec,
        workload.placement,
        evacuate=move.sources,
        request_id=f"{move.operation_id}:{workload.spec.namespace}/{workload.spec.name}",
    )
    decision = cycle.decide(request)
    moved = _moved(decision, move.sources)
    if not decision.ok or moved == 0:
        return MoveResult(_degraded(workload, move.sources, _reasons(decision)), [])
    try:
        changes = cycle.reserve(request, decision, release_evacuated=False)
    except OverCommitError as error:
        return MoveResult(_degraded(workload, move.sources, str(error)), [])
    ops: list[Op] = _reservation_ops(changes, keys)
    record = _moved_record(workload, decision, move)
    if move.mode != types_pb2.FAILOVER_MODE_GRACEFUL:
        ops += _resize_sources(workload, record, move.sources, ledger, keys)
    return MoveResult(record, ops)


def replace_refused(
    workload: types_pb2.Workload, refused: Refused, cycle: Cycle, ledger: Ledger, keys: Keys
) -> MoveResult:
    """Move a refused part's replicas off its cluster at once (direct mode, no operation id, so
    later moves are not blocked), releasing its reservation. Marked Failed instead, with the
    reasons, when it is itself a re-placement, a move is in flight or nothing fits elsewhere;
    replicas that fit nowhere stay on the refused part, Failed."""
    part = next((p for p in workload.placement.clusters if p.cluster == refused.cluster), None)
    if (
        part is None
        or part.replicas != refused.replicas
        or part.phase != types_pb2.WORKLOAD_PHASE_RESERVED
    ):
        return MoveResult(None, [])
    why = f"apply refused by {refused.cluster}: {refused.reason}"
    if part.replaces:
        return MoveResult(
            _failed(workload, refused.cluster, f"{why} (re-placed from {part.replaces} already)"),
            [],
        )
    if in_flight(workload):
        return MoveResult(_failed(workload, refused.cluster, f"{why} (a move is in flight)"), [])
    sources = frozenset({refused.cluster})
    move = Evacuate(refused.namespace, refused.name, sources, "", types_pb2.FAILOVER_MODE_DIRECT)
    request, decision = _off(workload, refused.cluster, f"refused:{part.reservation_id}", cycle)
    if not decision.ok or _moved(decision, sources) == 0:
        return MoveResult(
            _failed(
                workload, refused.cluster, f"{why}; nothing fits elsewhere: {_reasons(decision)}"
            ),
            [],
        )
    try:
        changes = cycle.reserve(request, decision, release_evacuated=False)
    except OverCommitError as error:
        return MoveResult(_failed(workload, refused.cluster, f"{why}; {error}"), [])
    ops: list[Op] = _reservation_ops(changes, keys)
    record = _moved_record(workload, decision, move)
    ops += _resize_sources(workload, record, sources, ledger, keys)
    before = {p.cluster: p.replicas for p in workload.placement.clusters}
    for item in record.placement.clusters:
        if item.cluster == refused.cluster:
            item.message = why
            if item.replicas:
                item.phase = types_pb2.WORKLOAD_PHASE_FAILED
                item.message += f"; {item.replicas} replicas fit nowhere else"
        elif item.replicas > before.get(item.cluster, 0):
            item.replaces = refused.cluster
    moved = _moved(decision, sources)
    record.message = f"{why}; {moved} replicas re-placed elsewhere" + (
        f", {decision.unplaced} fit nowhere: {_reasons(decision)}" if decision.unplaced else ""
    )
    return MoveResult(record, ops)


def abandon(
    workload: types_pb2.Workload, move: Abandon, cycle: Cycle, ledger: Ledger, keys: Keys
) -> MoveResult:
    """Re-place the replicas a removed cluster held. What fits nowhere stays as a Failed part
    without a reservation, the reasons in its message, for a later sweep to place again; a
    workload with a move in flight waits for it to end; a deleted one only loses the parts."""
    parts = [p for p in workload.placement.clusters if p.cluster == move.cluster]
    if not parts or (in_flight(workload) and workload.phase != types_pb2.WORKLOAD_PHASE_DELETING):
        return MoveResult(None, [])
    ops = _release_parts(parts, ledger, keys)
    held = sum(p.replicas for p in parts)
    if held == 0 or workload.phase == types_pb2.WORKLOAD_PHASE_DELETING:
        return MoveResult(_without_cluster(workload, move.cluster), ops)
    why = f"cluster {move.cluster} was removed"
    sources = frozenset({move.cluster})
    request_id = f"abandon:{move.cluster}:{workload.spec.namespace}/{workload.spec.name}"
    request, decision = _off(workload, move.cluster, request_id, cycle)
    if not decision.ok or _moved(decision, sources) == 0:
        return _stranded(workload, move.cluster, held, f"{why}; {_reasons(decision)}", ops)
    try:
        changes = cycle.reserve(request, decision, release_evacuated=False)
    except OverCommitError as error:
        return _stranded(workload, move.cluster, held, f"{why}; {error}", ops)
    ops += _reservation_ops(changes, keys)
    evacuation = Evacuate(move.namespace, move.name, sources, "", types_pb2.FAILOVER_MODE_DIRECT)
    record = _without_cluster(_moved_record(workload, decision, evacuation), move.cluster)
    before = {p.cluster: p.replicas for p in workload.placement.clusters}
    for part in record.placement.clusters:
        if part.replicas > before.get(part.cluster, 0):
            part.replaces = move.cluster
    record.message = f"{why}: {_moved(decision, sources)} replicas re-placed elsewhere"
    if decision.unplaced:
        _add_stranded(record, move.cluster, decision.unplaced, f"{why}; {_reasons(decision)}")
        record.message += f", {decision.unplaced} fit nowhere: {_reasons(decision)}"
    return MoveResult(record, ops)


def _off(
    workload: types_pb2.Workload, cluster: str, request_id: str, cycle: Cycle
) -> tuple[PlacementRequest, Decision]:
    """The engine's decision for moving the workload's replicas off one cluster."""
    request = PlacementRequest.from_spec(
        workload.spec, workload.placement, evacuate=(cluster,), request_id=request_id
    )
    return request, cycle.decide(request)


def _reservation_ops(changes: Changes, keys: Keys) -> list[Op]:
    ops: list[Op] = [
        Put(keys.reservation(r.cluster, r.id), r.SerializeToString()) for r in changes.upserts
    ]
    ops += [Delete(keys.reservation(r.cluster, r.id)) for r in changes.releases]
    return ops


def _release_parts(parts: list[types_pb2.ClusterPlacement], ledger: Ledger, keys: Keys) -> list[Op]:
    ops: list[Op] = []
    for part in parts:
        if part.reservation_id and ledger.get(part.cluster, part.reservation_id) is not None:
            ledger.release(part.cluster, part.reservation_id)
            ops.append(Delete(keys.reservation(part.cluster, part.reservation_id)))
    return ops


def _without_cluster(workload: types_pb2.Workload, cluster: str) -> types_pb2.Workload:
    record = types_pb2.Workload()
    record.CopyFrom(workload)
    del record.placement.clusters[:]
    record.placement.clusters.extend(p for p in workload.placement.clusters if p.cluster != cluster)
    return record


def _stranded(
    workload: types_pb2.Workload, cluster: str, replicas: int, message: str, ops: list[Op]
) -> MoveResult:
    """Nothing moved: unchanged (None) when the record says so already."""
    record = _without_cluster(workload, cluster)
    _add_stranded(record, cluster, replicas, message)
    record.message = message
    if record == workload:
        return MoveResult(None, [])
    return MoveResult(record, ops)


def _add_stranded(record: types_pb2.Workload, cluster: str, replicas: int, message: str) -> None:
    record.placement.clusters.add(
        cluster=cluster,
        replicas=replicas,
        phase=types_pb2.WORKLOAD_PHASE_FAILED,
        message=f"{message}; {replicas} replicas fit nowhere else",
    )


def _failed(workload: types_pb2.Workload, cluster: str, message: str) -> types_pb2.Workload:
    """The refused part Failed with the reasons; its reservation stays until a scale or delete."""
    record = types_pb2.Workload()
    record.CopyFrom(workload)
    for part in record.placement.clusters:
        if part.cluster == cluster:
            part.phase = types_pb2.WORKLOAD_PHASE_FAILED
            part.message = message
    record.message = message
    return record


def return_back(
    workload: types_pb2.Workload, move: ReturnMove, cycle: Cycle, ledger: Ledger, keys: Keys
) -> MoveResult:
    """Grow (or add) the part on `to_cluster` by what the donors can give and what fits
    there, reserving first; the donors' parts leave once it is Ready (see `complete`)."""
    if in_flight(workload):
        return MoveResult(None, [])
    donors = [p for p in workload.placement.clusters if p.cluster in move.from_clusters]
    wanted = min(move.replicas, sum(p.replicas - p.leaving for p in donors))
    view = cycle.views.get(move.to_cluster)
    request = PlacementRequest.from_spec(workload.spec, workload.placement)
    overcommit = resolve_policy(request, cycle.policies).default_overcommit
    capacity = cycle.capacity(view, overcommit) if view is not None else None
    if wanted <= 0 or capacity is None or capacity.max_replicas(request.shape) < wanted:
        return MoveResult(None, [])
    record = types_pb2.Workload()
    record.CopyFrom(workload)
    part = next((p for p in record.placement.clusters if p.cluster == move.to_cluster), None)
    if part is None:
        part = record.placement.clusters.add(cluster=move.to_cluster)
        part.reservation_id = _return_reservation_id(move)
    reservation = _grown(ledger.get(move.to_cluster, part.reservation_id), part, workload, wanted)
    try:
        ledger.reserve(reservation, capacity.allowance)
    except OverCommitError:
        return MoveResult(None, [])
    part.replicas += wanted
    part.phase = types_pb2.WORKLOAD_PHASE_RESERVED
    part.operation_id = move.operation_id
    _mark_leaving(record, move, wanted)
    key = keys.reservation(move.to_cluster, part.reservation_id)
    return MoveResult(record, [Put(key, reservation.SerializeToString())])


def _return_reservation_id(move: ReturnMove) -> str:
    text = f"{move.operation_id}:{move.namespace}/{move.name}:{move.to_cluster}"
    return "rsv-" + hashlib.sha256(text.encode()).hexdigest()[:20]


def _grown(
    existing: types_pb2.Reservation | None,
    part: types_pb2.ClusterPlacement,
    workload: types_pb2.Workload,
    extra: int,
) -> types_pb2.Reservation:
    reservation = types_pb2.Reservation()
    if existing is not None:
        reservation.CopyFrom(existing)
    else:
        reservation.id = part.reservation_id
        reservation.cluster = part.cluster
        reservation.workload = f"{workload.spec.namespace}/{workload.spec.name}"
        reservation.per_replica.CopyFrom(workload.spec.resources)
        reservation.epoch = workload.placement.epoch
    reservation.replicas = part.replicas + extra
    return reservation


def _mark_leaving(record: types_pb2.Workload, move: ReturnMove, count: int) -> None:
    left = count
    for part in record.placement.clusters:
        if part.cluster in move.from_clusters and left > 0:
            give = min(left, part.replicas - part.leaving)
            part.leaving += give
            part.operation_id = move.operation_id
            left -= give


def complete(
    workload: types_pb2.Workload, move: CompleteMove, ledger: Ledger, keys: Keys
) -> MoveResult:
    """Drain graceful sources and clear the markers once every target part is Ready; give
    the move up once a target Failed (see `_give_up`)."""
    refused = refused_target(workload, move.operation_id)
    if refused is not None:
        return _give_up(workload, move, refused, ledger, keys)
    tagged = [p for p in workload.placement.clusters if p.operation_id == move.operation_id]
    targets = [p for p in tagged if p.leaving == 0 and p.replicas > 0]
    if not tagged or any(p.phase != types_pb2.WORKLOAD_PHASE_READY for p in targets):
        return MoveResult(None, [])
    record = types_pb2.Workload()
    record.CopyFrom(workload)
    sources: set[str] = set()
    for part in record.placement.clusters:
        if part.operation_id != move.operation_id:
            continue
        if part.leaving:
            part.replicas -= part.leaving
            part.leaving = 0
            part.phase = types_pb2.WORKLOAD_PHASE_RESERVED
            sources.add(part.cluster)
        part.operation_id = ""
    return MoveResult(record, _resize_sources(workload, record, frozenset(sources), ledger, keys))


def _give_up(
    workload: types_pb2.Workload,
    move: CompleteMove,
    refused: types_pb2.ClusterPlacement,
    ledger: Ledger,
    keys: Keys,
) -> MoveResult:
    """A target refused its part: the move's markers go, so the workload is not in flight
    forever. Graceful sources still hold every replica: they keep them, and the targets are
    released and scaled to zero (the binder removes what they applied). Direct sources gave
    their replicas up already: the Failed target keeps them and its reservation, as a refused
    part that fits nowhere does, until a scale or delete."""
    record = types_pb2.Workload()
    record.CopyFrom(workload)
    moving = [p for p in record.placement.clusters if p.operation_id == move.operation_id]
    graceful = any(p.leaving for p in moving)
    ops: list[Op] = []
    for part in moving:
        part.operation_id = ""
        if part.leaving:
            part.leaving = 0
        elif graceful:
            ops += _release_parts([part], ledger, keys)
            part.replicas = 0
    record.message = (
        f"move {move.operation_id} given up: apply failed on {refused.cluster}: {refused.message}"
    )
    return MoveResult(record, ops)


def _moved(decision: Decision, sources: frozenset[str]) -> int:
    return sum(max(a.delta, 0) for a in decision.assignments if a.cluster not in sources)


def _reasons(decision: Decision) -> str:
    return "; ".join(decision.reasons()) or decision.status.message()


def _moved_record(
    workload: types_pb2.Workload, decision: Decision, move: Evacuate
) -> types_pb2.Workload:
    record = types_pb2.Workload()
    record.CopyFrom(workload)
    previous = {p.cluster: p for p in workload.placement.clusters}
    kept = _kept_on_sources(workload, decision.unplaced, move.sources)
    del record.placement.clusters[:]
    for item in decision.assignments:
        before = previous.get(item.cluster)
        part = types_pb2.ClusterPlacement(cluster=item.cluster, reservation_id=item.reservation_id)
        if before is not None:
            part.CopyFrom(before)
        if item.cluster in move.sources:
            _source_part(part, kept.get(item.cluster, 0), move)
        elif item.delta > 0:
            part.replicas = item.replicas
            part.phase = types_pb2.WORKLOAD_PHASE_RESERVED
            part.reservation_id = item.reservation_id
            part.operation_id = move.operation_id
        if part.replicas > 0 or before is not None:
            record.placement.clusters.append(part)
    keep_pending_removal(record, workload)
    record.message = (
        f"{decision.unplaced} replicas fit nowhere and stay put: {_reasons(decision)}"
        if decision.unplaced
        else ""
    )
    return record


def keep_pending_removal(record: types_pb2.Workload, workload: types_pb2.Workload) -> None:
    """Placement requests leave out parts scaled to zero, so the decision does not mention
    them; they stay as they were until the binder has removed their Deployments (a move or
    a scale that places replicas there again replaces the part instead)."""
    placed = {p.cluster for p in record.placement.clusters}
    for part in workload.placement.clusters:
        if part.replicas == 0 and part.cluster not in placed:
            record.placement.clusters.append(part)


def _source_part(part: types_pb2.ClusterPlacement, kept: int, move: Evacuate) -> None:
    if move.mode == types_pb2.FAILOVER_MODE_GRACEFUL:
        part.leaving = part.replicas - kept
        part.operation_id = move.operation_id
        return
    part.replicas = kept
    part.phase = types_pb2.WORKLOAD_PHASE_DEGRADED if kept else types_pb2.WORKLOAD_PHASE_RESERVED


def _kept_on_sources(
    workload: types_pb2.Workload, unplaced: int, sources: frozenset[str]
) -> dict[str, int]:
    """Spread what fits nowhere back over the sources it came from, in name order."""
    kept: dict[str, int] = {}
    left = unplaced
    for part in sorted(workload.placement.clusters, key=lambda p: p.cluster):
        if part.cluster in sources and left > 0:
            kept[part.cluster] = min(part.replicas, left)
            left -= kept[part.cluster]
    return kept


def _degraded(
    workload: types_pb2.Workload, sources: frozenset[str], reasons: str
) -> types_pb2.Workload:
    record = types_pb2.Workload()
    record.CopyFrom(workload)
    for part in record.placement.clusters:
        if part.cluster in sources and part.replicas > 0:
            part.phase = types_pb2.WORKLOAD_PHASE_DEGRADED
            part.message = "could not be moved: nothing fits elsewhere"
    record.message = f"replicas on {', '.join(sorted(sources))} could not move: {reasons}"
    return record


def _resize_sources(
    before: types_pb2.Workload,
    after: types_pb2.Workload,
    sources: frozenset[str],
    ledger: Ledger,
    keys: Keys,
) -> list[Op]:
    """Shrink (or release) the sources' reservations to the replicas their parts keep."""
    ops: list[Op] = []
    kept = {p.cluster: p.replicas for p in after.placement.clusters}
    for part in before.placement.clusters:
        if part.cluster not in sources or not part.reservation_id:
            continue
        reservation = ledger.get(part.cluster, part.reservation_id)
        if reservation is None:
            continue
        key = keys.reservation(part.cluster, part.reservation_id)
        replicas = kept.get(part.cluster, 0)
        if replicas == 0:
            ledger.release(part.cluster, part.reservation_id)
            ops.append(Delete(key))
            continue
        resized = types_pb2.Reservation()
        resized.CopyFrom(reservation)
        resized.replicas = replicas
        ledger.reserve(resized, _SHRINK_ONLY)
        ops.append(Put(key, resized.SerializeToString()))
    return ops
