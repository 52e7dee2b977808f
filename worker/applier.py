"""Idempotent Apply and Remove of a workload's Deployment in one cluster.

Operations on one object run in order (a per-object lock); different objects in parallel.
AlreadyExists is success; updates carry the resourceVersion read (compare-and-swap) and are
retried on 409 Conflict after re-reading. Epochs lower than the highest seen for the
cluster, or than the one recorded on the Deployment, are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from common import retry
from common.settings import RetrySettings
from worker import manifest, metrics
from worker.kube_adapter import KubeAdapter, KubeAlreadyExists, KubeConflict, KubeNotFound
from worker.manifest import Desired, WorkloadRef
from worker.model import EPOCH_LABEL, WORKLOAD_LABEL, Deployment

_log = logging.getLogger(__name__)


class StaleEpoch(Exception):
    """The request's epoch is lower than one already seen."""


class NotManaged(Exception):
    """An object of that name exists and does not belong to this workload."""


class DeadlineExceeded(Exception):
    """The caller's deadline ran out before the work was done."""


@dataclass(frozen=True)
class Deadline:
    """An absolute time.monotonic() deadline, or none."""

    at: float | None = None

    @classmethod
    def after(cls, seconds: float | None) -> Deadline:
        return cls(None if seconds is None else time.monotonic() + seconds)

    def remaining(self) -> float | None:
        if self.at is None:
            return None
        left = self.at - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded("deadline exceeded")
        return left


@dataclass(frozen=True)
class ApplyOutcome:
    deployment: str
    created: bool
    replicas: int
    resource_version: str


@dataclass
class _KeyLock:
    lock: asyncio.Lock
    users: int = 0


class Applier:
    def __init__(
        self,
        cluster: str,
        adapter: KubeAdapter,
        retry_policy: RetrySettings,
        runs_pods: Callable[[str], bool],
        crash_after_create: bool = False,
        *,
        known: Callable[[str, str], Deployment | None] = lambda namespace, name: None,
    ) -> None:
        """`runs_pods(label)`: whether the cluster runs a pod of the workload with that
        fed.io/workload label, as far as the informer cache knows. `known(namespace, name)`:
        the Deployment as the informer cache holds it, None when it holds none (status checks
        ask the API server only then; worker.deployment_cache)."""
        self.cluster = cluster
        self._runs_pods = runs_pods
        self._known = known
        self.highest_epoch = 0
        self._adapter = adapter
        self._retry_policy = retry_policy
        self._crash_after_create = crash_after_create
        self._locks: dict[str, _KeyLock] = {}

    @contextlib.asynccontextmanager
    async def _locked(self, key: str) -> AsyncIterator[None]:
        entry = self._locks.setdefault(key, _KeyLock(asyncio.Lock()))
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if not entry.users:
                del self._locks[key]

    def _check_epoch(self, epoch: int) -> None:
        if epoch < self.highest_epoch:
            raise StaleEpoch(
                f"epoch {epoch} is lower than {self.highest_epoch}, already seen for cluster "
                f"{self.cluster}"
            )
        self.highest_epoch = epoch

    @staticmethod
    def _check_existing(existing: Deployment, ref: WorkloadRef) -> None:
        if existing.labels.get(WORKLOAD_LABEL) != ref.label:
            raise NotManaged(
                f"deployment {ref.namespace}/{ref.deployment} exists and is not managed by the "
                f"federation for workload {ref.namespace}/{ref.name}"
            )
        recorded = existing.labels.get(EPOCH_LABEL, "0")
        if recorded.isdigit() and int(recorded) > ref.epoch:
            raise StaleEpoch(f"epoch {ref.epoch} is lower than {recorded}, recorded on the object")

    async def apply(self, desired: Desired, deadline: Deadline) -> ApplyOutcome:
        ref = desired.ref
        self._check_epoch(ref.epoch)
        async with self._locked(f"{ref.namespace}/{ref.deployment}"):
            outcome = await self._apply_locked(desired, deadline)
        metrics.APPLIES.labels(self.cluster, "apply", "created" if outcome.created else "ok").inc()
        return outcome

    async def _apply_locked(self, desired: Desired, deadline: Deadline) -> ApplyOutcome:
        """Create first when the cluster runs no pod of the workload (a new placement: one
        call instead of a read and a create); read first when it does (a scale, which a
        create would only be refused)."""
        async for attempt in retry.transient(
            self._retry_policy, [KubeConflict, KubeAlreadyExists], deadline_s=deadline.remaining()
        ):
            with attempt:
                if not self._runs_pods(desired.ref.label):
                    with contextlib.suppress(KubeAlreadyExists):
                        return await self._create(desired, deadline)
                existing = await self._adapter.get_deployment(
                    desired.ref.namespace, desired.ref.deployment, deadline.remaining()
                )
                if existing is None:
                    return await self._create(desired, deadline)
                return await self._update(existing, desired, deadline)
        raise AssertionError("unreachable")

    async def _create(self, desired: Desired, deadline: Deadline) -> ApplyOutcome:
        body = manifest.build(desired)
        namespace = desired.ref.namespace
        try:
            created = await self._adapter.create_deployment(namespace, body, deadline.remaining())
        except KubeNotFound:
            await self._adapter.ensure_namespace(namespace, deadline.remaining())
            created = await self._adapter.create_deployment(namespace, body, deadline.remaining())
        if self._crash_after_create:
            _log.warning("crash_after_create: killing this worker before replying")
            os.kill(os.getpid(), signal.SIGKILL)
        return ApplyOutcome(created.name, True, created.replicas, created.resource_version)

    async def _update(
        self, existing: Deployment, desired: Desired, deadline: Deadline
    ) -> ApplyOutcome:
        self._check_existing(existing, desired.ref)
        body = manifest.update(existing, desired)
        if body is None:
            return ApplyOutcome(existing.name, False, existing.replicas, existing.resource_version)
        updated = await self._adapter.replace_deployment(
            existing.namespace, existing.name, body, deadline.remaining()
        )
        return ApplyOutcome(updated.name, False, updated.replicas, updated.resource_version)

    async def remove(self, ref: WorkloadRef, deadline: Deadline) -> bool:
        """Delete the workload's Deployment; False when it was already gone."""
        self._check_epoch(ref.epoch)
        async with self._locked(f"{ref.namespace}/{ref.deployment}"):
            existing = await self._adapter.get_deployment(
                ref.namespace, ref.deployment, deadline.remaining()
            )
            if existing is None:
                deleted = False
            else:
                self._check_existing(existing, ref)
                deleted = await self._adapter.delete_deployment(
                    ref.namespace, ref.deployment, deadline.remaining()
                )
        metrics.APPLIES.labels(self.cluster, "remove", "deleted" if deleted else "absent").inc()
        return deleted

    async def status(self, ref: WorkloadRef, deadline: Deadline) -> Deployment | None:
        known = self._known(ref.namespace, ref.deployment)
        if known is not None:
            metrics.STATUS_READS.labels(self.cluster, "cache").inc()
            return known
        metrics.STATUS_READS.labels(self.cluster, "api").inc()
        return await self._adapter.get_deployment(
            ref.namespace, ref.deployment, deadline.remaining()
        )
