"""Turning a decision into ledger reservations: new ids, resized and released reservations."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from fed.v1 import types_pb2
from proxy.ledger import Ledger
from proxy.scheduler.decision import Changes, Decision
from proxy.scheduler.model import PlacementRequest
from proxy.scheduler.resources import Quantity


def new_reservation_id(request: PlacementRequest, cluster: str) -> str:
    """Deterministic, so that a retried request reserves under the same id."""
    text = f"{request.workload}\0{cluster}\0{request.request_id}"
    return "rsv-" + hashlib.sha256(text.encode()).hexdigest()[:20]


def reservation_changes(
    ledger: Ledger,
    request: PlacementRequest,
    decision: Decision,
    allowance: Callable[[str], Quantity],
    release_evacuated: bool,
) -> Changes:
    """Resize, create or release one reservation per changed cluster, in the ledger.

    Raises OverCommitError (from the ledger) when a cluster's allowance would be exceeded;
    the caller rolls back.
    """
    upserts: list[types_pb2.Reservation] = []
    releases: list[types_pb2.Reservation] = []
    for item in decision.changed():
        existing = ledger.get(item.cluster, item.reservation_id)
        if item.replicas <= 0:
            keep_source = item.cluster in request.evacuate and not release_evacuated
            if existing is not None and not keep_source:
                ledger.release(item.cluster, item.reservation_id)
                releases.append(existing)
            continue
        updated = types_pb2.Reservation()
        if existing is not None:
            updated.CopyFrom(existing)
        else:
            updated.id = item.reservation_id
            updated.cluster = item.cluster
            updated.workload = request.workload
            request.shape.write_to(updated.per_replica)
        updated.replicas = item.replicas
        ledger.reserve(updated, allowance(item.cluster))
        upserts.append(updated)
    return Changes(tuple(upserts), tuple(releases))
