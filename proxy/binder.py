"""Binding: turning reserved placements into Deployments in the member clusters.

After a commit the writer hands the workload over; a periodic sweep picks up whatever is
not Ready yet (after a leader change, too), from a set of unsettled workloads kept as records
change, not by walking every workload. A workload whose clusters have no live worker is
parked until workers or assignments change, instead of being retried. Per cluster part:
Reserved -> Apply through a worker -> Applied -> Ready once the worker reports every
replica ready. A part scaled to zero is removed from its cluster; a deleted workload is
removed everywhere and then finalized (record and reservations dropped). Results go back
through the writer, so they never race a concurrent scale. The worker calls of many
workloads share Batch RPCs (proxy.worker_batches, through the router).

A permanent apply error fails the part, with two kinds: INVALID_ARGUMENT (a template no
cluster would take) stays Failed; FAILED_PRECONDITION (this cluster refuses: a name taken by
an object the federation does not own, a quota, an admission rule) releases the part's
reservation and re-places its replicas elsewhere, once (see migration.replace_refused).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import grpc

from common.cancellation import cancel_and_wait
from fed.v1 import types_pb2, worker_pb2
from proxy import metrics
from proxy.cache import Change, FedCache
from proxy.errors import ApiError
from proxy.migration import Refused
from proxy.routing import NoWorker, WorkerRouter
from proxy.workloads import WorkloadWriter
from proxy.write_round import Finalize, PartReport, PhaseReport

_log = logging.getLogger(__name__)
Phase = types_pb2.WorkloadPhase
_PERMANENT = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION)
_MAX_BACKOFF_S = 10.0
_CALLED_PHASES = (
    types_pb2.WORKLOAD_PHASE_RESERVED,
    types_pb2.WORKLOAD_PHASE_APPLIED,
    types_pb2.WORKLOAD_PHASE_DEGRADED,
)
"""Phases of a part that take a worker call: apply, or watch until Ready (a part scaled to
zero takes one in any phase: its removal)."""


def unsettled(workload: types_pb2.Workload) -> bool:
    """Not Ready, or Ready with a part still to be removed from some cluster (a Ready
    workload can hold a part scaled to zero whose cluster was down when it was moved)."""
    if workload.phase != types_pb2.WORKLOAD_PHASE_READY:
        return True
    return any(part.replicas == 0 for part in workload.placement.clusters)


def _parts_to_call(workload: types_pb2.Workload) -> list[types_pb2.ClusterPlacement]:
    """The parts a binding pass acts on through a worker: to apply, to follow until Ready,
    or to remove."""
    return [
        part
        for part in workload.placement.clusters
        if part.replicas == 0 or part.phase in _CALLED_PHASES
    ]


@dataclass
class _Outcome:
    """One binding pass over a workload: the parts that failed, and whether any worker
    call answered (then the workload has parts to follow and is not left waiting)."""

    failures: list[Exception]
    reached: bool


_NO_BACKOFF = (0.0, 0.0)
"""(due at, last delay) of a workload that has not failed: due at once."""


class Binder:
    def __init__(
        self,
        writer: WorkloadWriter,
        router: WorkerRouter,
        cache: FedCache,
        epoch: int,
        *,
        period_s: float,
    ) -> None:
        self._writer = writer
        self._router = router
        self._cache = cache
        self._changes: asyncio.Queue[Change] | None = None
        self._unsettled: set[tuple[str, str]] = set()
        """Unsettled workloads the sweep re-checks; parked ones are in `_waiting` instead, so
        that a sweep does not walk every workload an outage of workers has parked."""
        self._waiting: dict[tuple[str, str], frozenset[str]] = {}
        """Parked workloads and the clusters whose lack of a worker they wait out."""
        self._epoch = epoch
        self._period_s = period_s
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._queued: set[tuple[str, str]] = set()
        self._binding: set[tuple[str, str]] = set()
        self._again: set[tuple[str, str]] = set()
        self._retry_at: dict[tuple[str, str], tuple[float, float]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def enqueue(self, workload: types_pb2.Workload) -> None:
        """Bind this version of the workload soon (every committed record comes here)."""
        key = (workload.spec.namespace, workload.spec.name)
        if unsettled(workload):
            self._unsettled.add(key)
        else:
            self._unsettled.discard(key)
        if key in self._queued or (key not in self._binding and self._parked_now(key, workload)):
            return
        self._queued.add(key)
        self._queue.put_nowait(key)

    def _parked_now(self, key: tuple[str, str], workload: types_pb2.Workload) -> bool:
        """Park at once, without a binding task, a workload none of whose parts to act on
        has a live worker (what a binding pass would find, failing each of them)."""
        if workload.phase == types_pb2.WORKLOAD_PHASE_DELETING:
            return False
        clusters = {part.cluster for part in _parts_to_call(workload)}
        if not clusters or any(self._router.workers_for(cluster) for cluster in clusters):
            return False
        self._wait_for_worker(key, clusters)
        return True

    def _wait_for_worker(self, key: tuple[str, str], clusters: set[str]) -> None:
        self._retry_at.pop(key, None)
        self._unsettled.discard(key)
        self._waiting[key] = frozenset(clusters)

    def follows(self, key: tuple[str, str]) -> bool:
        """Whether the binder binds this workload until it settles (due, backing off, or
        parked until its clusters have a worker)."""
        return key in self._unsettled or key in self._waiting

    def start(self, parallelism: int = 8) -> None:
        self._unsettled = {key for key, w in self._writer.workloads.items() if unsettled(w)}
        keys = self._cache.keys
        self._changes = self._cache.subscribe(keys.workers_prefix(), keys.assignments_prefix())
        self._tasks = [
            asyncio.create_task(self._sweep(), name="binder-sweep"),
            asyncio.create_task(self._wake_parked(), name="binder-wake"),
        ]
        self._tasks += [
            asyncio.create_task(self._drain(), name=f"binder-{i}") for i in range(parallelism)
        ]

    async def stop(self) -> None:
        await cancel_and_wait(*self._tasks)
        self._tasks = []
        if self._changes is not None:
            self._cache.unsubscribe(self._changes)
            self._changes = None

    async def _sweep(self) -> None:
        """Re-check what is unsettled; a workload that failed waits out its backoff, one
        waiting for a worker waits for the worker."""
        while True:
            for workload in self.due(time.monotonic()):
                self.enqueue(workload)
            await asyncio.sleep(self._period_s)

    def due(self, now: float) -> list[types_pb2.Workload]:
        """Unsettled workloads to bind again at `now`: not parked, past their backoff."""
        found: list[types_pb2.Workload] = []
        for key in [key for key in self._unsettled if key not in self._waiting]:
            workload = self._writer.workloads.get(key)
            if workload is None or not unsettled(workload):
                self._unsettled.discard(key)
            elif self._retry_at.get(key, _NO_BACKOFF)[0] <= now:
                found.append(workload)
        return found

    async def _wake_parked(self) -> None:
        """When workers or assignments change, bind what waited for a worker of a cluster
        that now has one."""
        assert self._changes is not None
        while True:
            await self._changes.get()
            while not self._changes.empty():
                self._changes.get_nowait()
            self._wake(list(self._waiting))

    def _wake(self, keys: list[tuple[str, str]]) -> None:
        """Bind again the parked workloads of which a cluster now has a live worker."""
        served: dict[str, bool] = {}
        for key in keys:
            clusters = self._waiting.get(key, frozenset())
            for cluster in clusters:
                if cluster not in served:
                    served[cluster] = bool(self._router.workers_for(cluster))
            if any(served[cluster] for cluster in clusters):
                del self._waiting[key]
                workload = self._writer.workloads.get(key)
                if workload is not None:
                    self.enqueue(workload)

    def _park(self, key: tuple[str, str], clusters: set[str]) -> None:
        """Wait for a worker instead of retrying: a cluster without one costs nothing."""
        self._wait_for_worker(key, clusters)
        self._wake([key])  # a worker may have come while the call failed

    async def _drain(self) -> None:
        """One workload at a time per key: a request for a workload being bound is replayed
        when that binding ends, so two tasks never act on different versions of it."""
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            if key in self._binding:
                self._again.add(key)
                continue
            workload = self._writer.workloads.get(key)
            if workload is None:
                continue
            self._binding.add(key)
            try:
                self._settle(key, await self._bind(workload))
            finally:
                self._binding.discard(key)
            self._replay(key)

    def _replay(self, key: tuple[str, str]) -> None:
        """Bind the latest version of a workload whose record changed while it was being
        bound or checked."""
        if key in self._again:
            self._again.discard(key)
            current = self._writer.workloads.get(key)
            if current is not None:
                self.enqueue(current)

    async def check_drift(self, key: tuple[str, str]) -> int:
        """Ask the clusters of a settled workload whether its Deployments are still as it
        was bound: none deleted or rescaled by hand, every replica ready. The parts that
        drifted go to the writer as one report, which unsettles the workload, so that it is
        bound again like any other. Skipped while the workload is being bound, queued or
        followed; a cluster without a live worker or that does not answer is left to the
        cluster's health. Returns how many parts drifted."""
        workload = self._writer.workloads.get(key)
        busy = key in self._binding or key in self._queued or self.follows(key)
        if workload is None or busy or unsettled(workload):
            return 0
        metrics.DRIFT_CHECKS.inc()
        self._binding.add(key)
        try:
            drifted = await self._report_drift(workload)
        finally:
            self._binding.discard(key)
        self._replay(key)
        return drifted

    async def _report_drift(self, workload: types_pb2.Workload) -> int:
        parts = [
            part
            for part in workload.placement.clusters
            if part.replicas > 0 and self._router.workers_for(part.cluster)
        ]
        results = await asyncio.gather(
            *(self._observe_part(workload, part) for part in parts), return_exceptions=True
        )
        drifted: list[PartReport] = []
        for result in results:
            if isinstance(result, PartReport):
                if result.phase != types_pb2.WORKLOAD_PHASE_READY:
                    drifted.append(result)
            elif not isinstance(result, ApiError | grpc.aio.AioRpcError):
                raise result
        if drifted:
            spec = workload.spec
            metrics.DRIFTED_PARTS.inc(len(drifted))
            _log.warning(
                "workload drifted in its clusters",
                extra={
                    "workload": f"{spec.namespace}/{spec.name}",
                    "clusters": [part.cluster for part in drifted],
                },
            )
            await self._writer.submit(PhaseReport(spec.namespace, spec.name, tuple(drifted)))
        return len(drifted)

    def _settle(self, key: tuple[str, str], outcome: _Outcome) -> None:
        self._waiting.pop(key, None)
        if not outcome.failures:
            self._retry_at.pop(key, None)
            return
        waiting = {f.cluster for f in outcome.failures if isinstance(f, NoWorker)}
        if not outcome.reached and len(waiting) == len(outcome.failures):
            self._park(key, waiting)
            return
        self._back_off(key)
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug(
                "bind deferred",
                extra={"workload": "/".join(key), "err": str(outcome.failures[0])},
            )

    def _back_off(self, key: tuple[str, str]) -> None:
        """Double the wait after each failure, from the sweep period up to ten seconds (a
        cluster back from an outage gets its orphans removed soon)."""
        _, delay = self._retry_at.get(key, (0.0, self._period_s / 2))
        delay = min(_MAX_BACKOFF_S, delay * 2)
        self._retry_at[key] = (time.monotonic() + delay, delay)

    async def _bind(self, workload: types_pb2.Workload) -> _Outcome:
        """Every part at once and on its own (an unreachable cluster does not hold up the
        others); what the workers said about them goes to the writer as one report."""
        if workload.phase == types_pb2.WORKLOAD_PHASE_DELETING:
            try:
                await self._delete_everywhere(workload)
            except (ApiError, grpc.aio.AioRpcError) as error:
                return _Outcome([error], reached=False)
            return _Outcome([], reached=True)
        outcome = _Outcome([], reached=False)
        called: list[types_pb2.ClusterPlacement] = []
        for part in _parts_to_call(workload):
            if self._router.workers_for(part.cluster):
                called.append(part)
            else:  # no task and no call for it: it waits for a worker
                outcome.failures.append(NoWorker(part.cluster))
        results = await asyncio.gather(
            *(self._bind_part(workload, part) for part in called), return_exceptions=True
        )
        reports: list[PartReport] = []
        for result in results:
            if isinstance(result, ApiError | grpc.aio.AioRpcError):
                outcome.failures.append(result)
            elif isinstance(result, BaseException):
                raise result
            else:
                outcome.reached = True
                reports += result
        if reports:
            spec = workload.spec
            await self._writer.submit(PhaseReport(spec.namespace, spec.name, tuple(reports)))
        return outcome

    async def _bind_part(
        self, workload: types_pb2.Workload, part: types_pb2.ClusterPlacement
    ) -> list[PartReport]:
        """Act on one part: what the worker call (which answered) said of it."""
        if part.replicas == 0:
            await self._remove(workload, part)
            return [_part_report(part, types_pb2.WORKLOAD_PHASE_UNSPECIFIED, 0, "removed")]
        if part.phase == types_pb2.WORKLOAD_PHASE_RESERVED:
            return await self._apply_part(workload, part)
        return [await self._observe_part(workload, part)]

    async def _apply_part(
        self, workload: types_pb2.Workload, part: types_pb2.ClusterPlacement
    ) -> list[PartReport]:
        """Applied or Failed; nothing to report when the cluster refused and the part is
        handed to the writer to be re-placed."""
        spec = workload.spec
        request = worker_pb2.ApplyRequest(
            cluster=part.cluster,
            namespace=spec.namespace,
            name=spec.name,
            reservation_id=part.reservation_id,
            epoch=self._epoch,
            replicas=part.replicas,
            per_replica=spec.resources,
            template_json=spec.template_json,
            labels=spec.labels,
        )
        try:
            await self._router.call(part.cluster, worker_pb2.BatchItem(apply=request))
        except grpc.aio.AioRpcError as error:
            if error.code() not in _PERMANENT:
                raise
            reason = error.details() or error.code().name
            if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
                _log.warning(
                    "apply refused, re-placing",
                    extra={"workload": f"{spec.namespace}/{spec.name}", "cluster": part.cluster,
                           "err": reason},
                )  # fmt: skip
                refused = Refused(spec.namespace, spec.name, part.cluster, part.replicas, reason)
                await self._writer.submit(refused)
                return []
            return [_part_report(part, types_pb2.WORKLOAD_PHASE_FAILED, 0, reason)]
        return [_part_report(part, types_pb2.WORKLOAD_PHASE_APPLIED, 0, "")]

    async def _observe_part(
        self, workload: types_pb2.Workload, part: types_pb2.ClusterPlacement
    ) -> PartReport:
        request = worker_pb2.GetWorkloadStatusRequest(
            cluster=part.cluster,
            namespace=workload.spec.namespace,
            name=workload.spec.name,
            reservation_id=part.reservation_id,
        )
        result = await self._router.call(part.cluster, worker_pb2.BatchItem(status=request))
        status = result.status
        if not status.exists:
            return _part_report(part, types_pb2.WORKLOAD_PHASE_RESERVED, 0, "re-applying")
        if status.desired != part.replicas:
            found = f"{status.desired} replicas in the cluster, {part.replicas} wanted"
            return _part_report(part, types_pb2.WORKLOAD_PHASE_RESERVED, 0, f"{found}: re-applying")
        phase = (
            types_pb2.WORKLOAD_PHASE_READY
            if status.ready >= part.replicas
            else types_pb2.WORKLOAD_PHASE_APPLIED
        )
        return _part_report(part, phase, status.ready, status.message)

    async def _delete_everywhere(self, workload: types_pb2.Workload) -> None:
        parts = workload.placement.clusters
        results = await asyncio.gather(
            *(self._remove(workload, part) for part in parts), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        await self._writer.submit(Finalize(workload.spec.namespace, workload.spec.name))

    async def _remove(self, workload: types_pb2.Workload, part: types_pb2.ClusterPlacement) -> None:
        request = worker_pb2.RemoveRequest(
            cluster=part.cluster,
            namespace=workload.spec.namespace,
            name=workload.spec.name,
            reservation_id=part.reservation_id,
            epoch=self._epoch,
        )
        try:
            await self._router.call(part.cluster, worker_pb2.BatchItem(remove=request))
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            # The object of that name is not ours (a refused apply never created one): there
            # is nothing of this workload's to remove there.
            _log.info(
                "nothing to remove",
                extra={"workload": request.name, "cluster": part.cluster, "err": error.details()},
            )


def _part_report(
    part: types_pb2.ClusterPlacement, phase: Phase.ValueType, ready: int, message: str
) -> PartReport:
    return PartReport(part.cluster, part.replicas, phase, ready, message)
