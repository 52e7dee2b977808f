"""Which workers serve which clusters: rendezvous hashing, one status publisher per cluster.

Rendezvous (highest random weight) hashing moves only the clusters of a worker that came
or went; every other cluster keeps its workers, and so its warm informer caches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from fed.v1 import types_pb2


def _weight(cluster: str, worker: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{cluster}\0{worker}".encode()).digest()[:8], "big")


def plan(
    clusters: Iterable[types_pb2.ClusterSpec], workers: Iterable[str], per_cluster: int
) -> dict[str, types_pb2.Assignment]:
    """The wanted Assignment of every worker (workers with nothing to do get an empty one)."""
    live = sorted(set(workers))
    wanted = {worker: types_pb2.Assignment(worker=worker) for worker in live}
    if not live:
        return wanted
    for spec in sorted(clusters, key=lambda s: s.name):
        count = min(len(live), max(1, spec.wanted_workers or per_cluster))
        ranked = sorted(live, key=lambda worker: _weight(spec.name, worker), reverse=True)
        for index, worker in enumerate(ranked[:count]):
            wanted[worker].clusters.append(spec.name)
            if index == 0:
                wanted[worker].publishes.append(spec.name)
    return wanted


def changed(
    current: Mapping[str, types_pb2.Assignment], wanted: Mapping[str, types_pb2.Assignment]
) -> tuple[list[types_pb2.Assignment], list[str]]:
    """(assignments to write, workers whose assignment is to be deleted)."""
    writes = [
        assignment
        for worker, assignment in sorted(wanted.items())
        if _essence(current.get(worker)) != _essence(assignment)
    ]
    deletes = sorted(set(current) - set(wanted))
    return writes, deletes


def _essence(assignment: types_pb2.Assignment | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if assignment is None:
        return (), ()
    return tuple(assignment.clusters), tuple(assignment.publishes)
