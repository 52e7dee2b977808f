"""The deployment controller: pods from the template (owned by the Deployment), scale up and
down, rolling updates by pod-template-hash, and status (replicas, ready, available)."""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

from tools.kubesim.errors import ApiError
from tools.kubesim.events import EventRecorder
from tools.kubesim.registry import DeleteOptions, Registry
from tools.kubesim.resources import DEPLOYMENTS, PODS
from tools.kubesim.store import DELETED, Change, Entry, object_key
from tools.kubesim.units import rfc3339

HASH_LABEL = "pod-template-hash"
CONTROLLER = "deployment-controller"
_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return "".join(
        _SUFFIX_CHARS[int(digest[i : i + 2], 16) % len(_SUFFIX_CHARS)] for i in range(0, 20, 2)
    )


def resolve(value: Any, replicas: int, round_up: bool) -> int:
    """An int-or-percent field of a rolling update, against `replicas`."""
    if isinstance(value, str) and value.endswith("%"):
        scaled = float(value[:-1]) * replicas / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    return int(value or 0)


def is_ready(pod: dict[str, Any]) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def by_deletion_preference(pods: list[Entry]) -> list[Entry]:
    """Pods to delete first: unscheduled, then not ready, then the newest."""
    newest_first = sorted(pods, key=lambda p: p.meta.get("creationTimestamp", ""), reverse=True)
    return sorted(
        newest_first,
        key=lambda p: (bool((p.obj.get("spec") or {}).get("nodeName")), is_ready(p.obj)),
    )


@dataclass
class PodSets:
    """The active pods of a deployment, split by template generation."""

    new: list[Entry] = field(default_factory=list)
    old: list[Entry] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.new) + len(self.old)

    def ready(self, pods: list[Entry]) -> int:
        return sum(1 for p in pods if is_ready(p.obj))


class DeploymentController:
    """Reconciles deployments queued by changes to them or to their pods; bounded per tick."""

    def __init__(self, registry: Registry, recorder: EventRecorder) -> None:
        self.registry = registry
        self.recorder = recorder
        self.queue: dict[str, None] = {}
        registry.store.listeners.append(self.observe)

    def observe(self, change: Change) -> None:
        if change.resource == DEPLOYMENTS.plural:
            if change.type != DELETED:
                self.queue[change.key] = None
        elif change.resource == PODS.plural:
            for ref in change.new.meta.get("ownerReferences") or ():
                if ref.get("kind") == "Deployment" and ref.get("controller"):
                    self.queue[object_key(change.new.meta["namespace"], ref["name"])] = None

    def step(self, budget: int) -> int:
        """Reconcile queued deployments, creating or deleting at most `budget` pods."""
        spent = 0
        while self.queue and spent < budget:
            key = next(iter(self.queue))
            del self.queue[key]
            entry = self.registry.store.get(DEPLOYMENTS.plural, key)
            if entry is None or entry.meta.get("deletionTimestamp"):
                continue
            used, more = self.reconcile(entry, budget - spent)
            spent += used + 1
            if more:
                self.queue[key] = None
        return spent

    def _pods(self, entry: Entry, current: str) -> PodSets:
        sets = PodSets()
        for resource, key in self.registry.store.dependents.get(entry.meta["uid"], ()):
            pod = self.registry.store.get(resource, key) if resource == PODS.plural else None
            if pod is None or pod.meta.get("deletionTimestamp"):
                continue
            if (pod.obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            labels = pod.labels
            (sets.new if labels.get(HASH_LABEL) == current else sets.old).append(pod)
        return sets

    def reconcile(self, entry: Entry, budget: int) -> tuple[int, bool]:
        """One pass; returns (pods created or deleted, whether more work remains)."""
        spec = entry.obj.get("spec") or {}
        current = template_hash(spec.get("template") or {})
        pods = self._pods(entry, current)
        desired = int(spec.get("replicas", 1))
        used = 0
        if not spec.get("paused"):
            create, delete = self._plan(spec, pods, desired)
            create = min(create, budget)
            for _ in range(create):
                self._create_pod(entry, current)
            for pod in delete[: max(0, budget - create)]:
                self._delete_pod(pod)
            used = create + min(len(delete), max(0, budget - create))
            self._record_scaling(entry, current, pods, create, delete[: max(0, budget - create)])
            pods = self._pods(entry, current)
        self._write_status(entry, pods, desired)
        return used, used >= budget

    def _plan(self, spec: dict[str, Any], pods: PodSets, desired: int) -> tuple[int, list[Entry]]:
        strategy = spec.get("strategy") or {}
        if not pods.old:
            if len(pods.new) >= desired:
                return 0, by_deletion_preference(pods.new)[: len(pods.new) - desired]
            return desired - len(pods.new), []
        if strategy.get("type") == "Recreate":
            return 0, list(pods.old)
        rolling = strategy.get("rollingUpdate") or {}
        surge = resolve(rolling.get("maxSurge", "25%"), desired, True)
        unavailable = resolve(rolling.get("maxUnavailable", "25%"), desired, False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        create = max(0, min(desired - len(pods.new), desired + surge - pods.total))
        ready = pods.ready(pods.new) + pods.ready(pods.old)
        removable = max(0, ready - (desired - unavailable))
        ordered = by_deletion_preference(pods.old)
        delete = [p for p in ordered if not is_ready(p.obj)]
        delete += [p for p in ordered if is_ready(p.obj)][:removable]
        if pods.ready(pods.new) >= desired:
            delete = ordered
        return create, delete

    def _record_scaling(
        self, entry: Entry, current: str, pods: PodSets, created: int, deleted: list[Entry]
    ) -> None:
        name = entry.meta["name"]
        if created:
            message = f"Scaled up replica set {name}-{current} to {len(pods.new) + created}"
            self.recorder.record(entry, "Normal", "ScalingReplicaSet", message, CONTROLLER)
        active = [p.labels.get(HASH_LABEL, "") for p in pods.new + pods.old]
        gone = [p.labels.get(HASH_LABEL, "") for p in deleted]
        for template in sorted(set(gone)):
            remaining = active.count(template) - gone.count(template)
            message = f"Scaled down replica set {name}-{template} to {remaining}"
            self.recorder.record(entry, "Normal", "ScalingReplicaSet", message, CONTROLLER)

    def _create_pod(self, entry: Entry, current: str) -> None:
        meta = entry.meta
        template = entry.obj["spec"].get("template") or {}
        tmeta = template.get("metadata") or {}
        labels = {**(tmeta.get("labels") or {}), HASH_LABEL: current}
        suffix = "".join(random.choices(_SUFFIX_CHARS, k=5))
        pod = {
            "metadata": {
                **{k: v for k, v in tmeta.items() if k in ("annotations",)},
                "name": f"{meta['name']}-{current}-{suffix}",
                "labels": labels,
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": template.get("spec") or {},
        }
        try:
            self.registry.create(PODS, meta["namespace"], pod)
        except ApiError:
            return

    def _delete_pod(self, pod: Entry) -> None:
        try:
            self.registry.delete(PODS, pod.meta["namespace"], pod.meta["name"], DeleteOptions())
        except ApiError:
            return

    def _write_status(self, entry: Entry, pods: PodSets, desired: int) -> None:
        spec = entry.obj.get("spec") or {}
        ready = pods.ready(pods.new) + pods.ready(pods.old)
        rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
        unavailable = resolve(rolling.get("maxUnavailable", "25%"), desired, False)
        old = entry.obj.get("status") or {}
        status: dict[str, Any] = {
            "observedGeneration": entry.meta.get("generation", 1),
            "replicas": pods.total,
            "updatedReplicas": len(pods.new),
            "readyReplicas": ready,
            "availableReplicas": ready,
        }
        if desired - ready > 0:
            status["unavailableReplicas"] = desired - ready
        status = {k: v for k, v in status.items() if v or k == "observedGeneration"}
        complete = len(pods.new) == desired and not pods.old and ready >= desired
        status["conditions"] = [
            _condition(
                old,
                "Available",
                ready >= desired - unavailable,
                "MinimumReplicasAvailable"
                if ready >= desired - unavailable
                else "MinimumReplicasUnavailable",
                "Deployment has minimum availability."
                if ready >= desired - unavailable
                else "Deployment does not have minimum availability.",
            ),
            _condition(
                old,
                "Progressing",
                True,
                "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                f'Deployment "{entry.meta["name"]}" has successfully progressed.'
                if complete
                else f'Deployment "{entry.meta["name"]}" is progressing.',
            ),
        ]
        if status != old:
            self.registry.replace_entry(
                DEPLOYMENTS, entry, {**entry.obj, "status": status}, "status"
            )


def _condition(
    old: dict[str, Any], kind: str, ok: bool, reason: str, message: str
) -> dict[str, Any]:
    value = "True" if ok else "False"
    previous = next((c for c in old.get("conditions") or () if c.get("type") == kind), None)
    if previous and previous.get("status") == value and previous.get("reason") == reason:
        return dict(previous)
    now = rfc3339(time.time())
    return {
        "type": kind,
        "status": value,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }
