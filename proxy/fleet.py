"""The fleet as the scheduler and the API see it, built from a replica's cached view."""

from __future__ import annotations

from typing import Protocol

from fed.v1 import federation_pb2, types_pb2
from proxy.clusters import public_spec
from proxy.health import derive_health
from proxy.ledger import Ledger
from proxy.scheduler.model import Snapshot
from proxy.view import FedView


def snapshot(view: FedView, stale_after_s: float, previous: Snapshot | None = None) -> Snapshot:
    """The fleet now; views of `previous` are reused where nothing changed (see Snapshot)."""
    entries = [(name, e) for name, e in view.clusters.items() if e.spec is not None]
    return Snapshot.build(
        [e.spec for _, e in entries if e.spec is not None],
        {name: e.status for name, e in entries if e.status is not None},
        {name: derive_health(e, stale_after_s) for name, e in entries},
        previous,
    )


class HoldsView(Protocol):
    """What a snapshot is built from: a replica's cache (or anything that holds a view)."""

    @property
    def view(self) -> FedView: ...


class LiveSnapshots:
    """Successive snapshots of a cache for one consumer (the writer), each built from the
    last so that unchanged clusters keep their view objects. The last snapshot itself is
    kept while no cluster record changed and every cluster's health is a recorded one (a
    health derived from a heartbeat's age changes with the time alone)."""

    def __init__(self, cache: HoldsView, stale_after_s: float) -> None:
        self._cache = cache
        self._stale_after_s = stale_after_s
        self._last: Snapshot | None = None
        self._built_from: tuple[FedView, int] | None = None

    def __call__(self) -> Snapshot:
        view = self._cache.view
        if (
            self._last is not None
            and self._built_from is not None
            and self._built_from[0] is view
            and self._built_from[1] == view.cluster_changes
        ):
            return self._last
        self._last = snapshot(view, self._stale_after_s, self._last)
        timeless = all(
            entry.health is not None and entry.health.health != types_pb2.CLUSTER_HEALTH_UNSPECIFIED
            for entry in view.clusters.values()
        )
        self._built_from = (view, view.cluster_changes) if timeless else None
        return self._last


def ledger(view: FedView) -> Ledger:
    return Ledger(r for per_cluster in view.reservations.values() for r in per_cluster.values())


def cluster_info(
    view: FedView, name: str, workers: list[str], stale_after_s: float, reserved: Ledger
) -> federation_pb2.ClusterInfo | None:
    entry = view.clusters.get(name)
    if entry is None or entry.spec is None:
        return None
    health = types_pb2.ClusterHealthRecord(
        cluster=name,
        health=derive_health(entry, stale_after_s),
    )
    if entry.health is not None:
        health.CopyFrom(entry.health)
    info = federation_pb2.ClusterInfo(
        spec=public_spec(entry.spec),
        health=health,
        reserved=reserved.reserved(name).to_proto(),
        reservations=len(view.reservations.get(name, {})),
        workers=workers,
    )
    if entry.status is not None:
        info.status.CopyFrom(entry.status)
    return info
