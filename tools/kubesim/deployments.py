"""The deployment controller: pods from the template (owned by the Deployment), scale up and
down, rolling updates by pod-template-hash, and status (replicas, ready, available).

Each deployment's pods are counted incrementally from store changes (per template hash:
active and ready), so a reconcile costs O(pods it creates or deletes), not O(replicas).
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import heapq
import json
import math
import random
import time
from collections import Counter
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


def _active(pod: Entry) -> bool:
    phase = (pod.obj.get("status") or {}).get("phase")
    return not pod.meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed")


def _controller_uid(pod: Entry) -> str | None:
    for ref in pod.meta.get("ownerReferences") or ():
        if ref.get("kind") == "Deployment" and ref.get("controller"):
            return str(ref.get("uid", ""))
    return None


@dataclass
class Owned:
    """The active pods of one deployment: key -> (template hash, ready), with counts."""

    pods: dict[str, tuple[str, bool]] = field(default_factory=dict)
    total: Counter[str] = field(default_factory=Counter)
    ready: Counter[str] = field(default_factory=Counter)

    def set(self, key: str, state: tuple[str, bool] | None) -> None:
        old = self.pods.pop(key, None)
        if old is not None:
            self.total[old[0]] -= 1
            self.ready[old[0]] -= old[1]
        if state is not None:
            self.pods[key] = state
            self.total[state[0]] += 1
            self.ready[state[0]] += state[1]


@dataclass
class Counts:
    """What a reconcile needs to know, for the current template hash."""

    new: int
    new_ready: int
    all: int
    all_ready: int

    @property
    def old(self) -> int:
        return self.all - self.new

    @property
    def old_ready(self) -> int:
        return self.all_ready - self.new_ready


@dataclass
class Plan:
    """Pods to create, and pods to delete: from the current template (surplus) or old ones."""

    create: int = 0
    surplus: int = 0
    old_unready: bool = False
    old_ready: int = 0


class DeploymentController:
    """Reconciles deployments queued by changes to them or to their pods; bounded per tick."""

    def __init__(self, registry: Registry, recorder: EventRecorder) -> None:
        self.registry = registry
        self.recorder = recorder
        self.queue: dict[str, None] = {}
        self.owned: dict[str, Owned] = {}
        self.pod_meta: dict[tuple[str, str], dict[str, Any]] = {}
        registry.store.listeners.append(self.observe)

    def observe(self, change: Change) -> None:
        if change.resource == DEPLOYMENTS.plural:
            if change.type == DELETED:
                self.owned.pop(change.new.meta.get("uid", ""), None)
            else:
                self.queue[change.key] = None
        elif change.resource == PODS.plural:
            self._observe_pod(change)

    def _observe_pod(self, change: Change) -> None:
        pod = change.new
        uid = _controller_uid(pod)
        if uid is None:
            return
        owned = self.owned.setdefault(uid, Owned())
        active = change.type != DELETED and _active(pod)
        owned.set(
            change.key, (pod.labels.get(HASH_LABEL, ""), is_ready(pod.obj)) if active else None
        )
        if not owned.pods:
            del self.owned[uid]
        ref = next(r for r in pod.meta["ownerReferences"] if r.get("uid") == uid)
        self.queue[object_key(pod.meta["namespace"], ref["name"])] = None

    def step(self, budget: int) -> int:
        """Reconcile queued deployments, creating or deleting at most `budget` pods."""
        spent = 0
        while self.queue and spent < budget:
            key = next(iter(self.queue))
            del self.queue[key]
            entry = self.registry.store.get(DEPLOYMENTS.plural, key)
            if entry is None or entry.meta.get("deletionTimestamp"):
                continue
            allowed = budget - spent
            used = self.reconcile(entry, allowed)
            spent += used + 1
            if used >= allowed:
                self.queue[key] = None
        return spent

    def _counts(self, uid: str, current: str) -> Counts:
        owned = self.owned.get(uid) or Owned()
        return Counts(
            owned.total[current],
            owned.ready[current],
            sum(owned.total.values()),
            sum(owned.ready.values()),
        )

    def reconcile(self, entry: Entry, budget: int) -> int:
        """One pass; returns how many pods it created or deleted (at most `budget`)."""
        spec = entry.obj.get("spec") or {}
        current = template_hash(spec.get("template") or {})
        uid = entry.meta["uid"]
        desired = int(spec.get("replicas", 1))
        used = 0
        if not spec.get("paused"):
            counts = self._counts(uid, current)
            plan = self._plan(spec, counts, desired)
            create = min(plan.create, budget)
            for _ in range(create):
                self._create_pod(entry, current)
            victims = self._victims(uid, current, plan, budget - create)
            for pod in victims:
                self._delete_pod(pod)
            used = create + len(victims)
            self._record_scaling(entry, current, counts, create, victims)
        self._write_status(entry, self._counts(uid, current), desired)
        return used

    def _plan(self, spec: dict[str, Any], counts: Counts, desired: int) -> Plan:
        strategy = spec.get("strategy") or {}
        if not counts.old:
            if counts.new >= desired:
                return Plan(surplus=counts.new - desired)
            return Plan(create=desired - counts.new)
        unready_old = counts.old > counts.old_ready
        if strategy.get("type") == "Recreate":
            return Plan(old_unready=unready_old, old_ready=counts.old_ready)
        rolling = strategy.get("rollingUpdate") or {}
        surge = resolve(rolling.get("maxSurge", "25%"), desired, True)
        unavailable = resolve(rolling.get("maxUnavailable", "25%"), desired, False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        create = max(0, min(desired - counts.new, desired + surge - counts.all))
        removable = max(0, counts.all_ready - (desired - unavailable))
        if counts.new_ready >= desired:
            removable = counts.old_ready
        return Plan(create, 0, unready_old, min(removable, counts.old_ready))

    def _victims(self, uid: str, current: str, plan: Plan, budget: int) -> list[Entry]:
        """The pods `plan` deletes, preferring unscheduled, then not ready, then the newest.
        Candidates are scanned from the most recently changed, a bounded number per kind."""
        wanted = {
            "surplus": min(plan.surplus, budget),
            "unready": budget if plan.old_unready else 0,
            "ready": min(plan.old_ready, budget),
        }
        if budget <= 0 or not any(wanted.values()):
            return []
        limit = 4 * budget + 64
        found: dict[str, list[Entry]] = {kind: [] for kind in wanted}
        owned = self.owned.get(uid) or Owned()
        for key, (template, pod_ready) in reversed(owned.pods.items()):
            kind = "surplus" if template == current else "ready" if pod_ready else "unready"
            if len(found[kind]) >= (limit if wanted[kind] else 0):
                if all(len(found[k]) >= (limit if wanted[k] else 0) for k in wanted):
                    break
                continue
            pod = self.registry.store.get(PODS.plural, key)
            if pod is not None:
                found[kind].append(pod)
        chosen: list[Entry] = []
        for kind, count in wanted.items():
            chosen += heapq.nsmallest(count, found[kind], key=_deletion_rank)
        return chosen[:budget]

    def _record_scaling(
        self, entry: Entry, current: str, counts: Counts, created: int, deleted: list[Entry]
    ) -> None:
        name = entry.meta["name"]
        if created:
            message = f"Scaled up replica set {name}-{current} to {counts.new + created}"
            self.recorder.record(entry, "Normal", "ScalingReplicaSet", message, CONTROLLER)
        owned = self.owned.get(entry.meta["uid"]) or Owned()
        for template in sorted({p.labels.get(HASH_LABEL, "") for p in deleted}):
            message = f"Scaled down replica set {name}-{template} to {owned.total[template]}"
            self.recorder.record(entry, "Normal", "ScalingReplicaSet", message, CONTROLLER)

    def _pod_metadata(self, entry: Entry, current: str) -> dict[str, Any]:
        """Labels, annotations and owner references shared by the pods of one template."""
        ident = (entry.meta["uid"], current)
        cached = self.pod_meta.get(ident)
        if cached is not None:
            return cached
        meta = entry.meta
        tmeta = (entry.obj["spec"].get("template") or {}).get("metadata") or {}
        shared: dict[str, Any] = {
            "labels": {**(tmeta.get("labels") or {}), HASH_LABEL: current},
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
        }
        if tmeta.get("annotations"):
            shared["annotations"] = tmeta["annotations"]
        if len(self.pod_meta) > 1024:
            self.pod_meta.clear()
        self.pod_meta[ident] = shared
        return shared

    def _create_pod(self, entry: Entry, current: str) -> None:
        suffix = "".join(random.choices(_SUFFIX_CHARS, k=5))
        pod_meta = {
            **self._pod_metadata(entry, current),
            "name": f"{entry.meta['name']}-{current}-{suffix}",
        }
        spec = (entry.obj["spec"].get("template") or {}).get("spec") or {}
        try:
            self.registry.create(
                PODS, entry.meta["namespace"], {"metadata": pod_meta, "spec": spec}
            )
        except ApiError:
            return

    def _delete_pod(self, pod: Entry) -> None:
        try:
            self.registry.delete(PODS, pod.meta["namespace"], pod.meta["name"], DeleteOptions())
        except ApiError:
            return

    def _write_status(self, entry: Entry, counts: Counts, desired: int) -> None:
        spec = entry.obj.get("spec") or {}
        rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
        unavailable = resolve(rolling.get("maxUnavailable", "25%"), desired, False)
        old = entry.obj.get("status") or {}
        ready = counts.all_ready
        status: dict[str, Any] = {
            "observedGeneration": entry.meta.get("generation", 1),
            "replicas": counts.all,
            "updatedReplicas": counts.new,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(0, desired - ready),
        }
        status = {k: v for k, v in status.items() if v or k == "observedGeneration"}
        available = ready >= desired - unavailable
        complete = counts.new == desired and not counts.old and ready >= desired
        status["conditions"] = [
            _condition(
                old,
                "Available",
                available,
                "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                "Deployment has minimum availability."
                if available
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
            self.registry.set_status(DEPLOYMENTS, entry, status)


@functools.lru_cache(maxsize=4096)
def _epoch(timestamp: str) -> int:
    return calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ")) if timestamp else 0


def _deletion_rank(pod: Entry) -> tuple[bool, bool, int]:
    """Smaller ranks are deleted first: unscheduled, then not ready, then the newest."""
    scheduled = bool((pod.obj.get("spec") or {}).get("nodeName"))
    return scheduled, is_ready(pod.obj), -_epoch(pod.meta.get("creationTimestamp", ""))


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
