"""The replica set controller: keeps spec.replicas pods from the template (owned by the
ReplicaSet), deleting unscheduled, then not-ready, then the newest pods first.

Each replica set's pods are counted incrementally from store changes, so a reconcile costs
O(pods it creates or deletes), not O(replicas).
"""

from __future__ import annotations

import calendar
import functools
import heapq
import random
import time
from dataclasses import dataclass, field
from typing import Any

from tools.kubesim.errors import ApiError
from tools.kubesim.registry import DeleteOptions, Registry
from tools.kubesim.resources import PODS, REPLICASETS
from tools.kubesim.store import DELETED, Change, Entry, object_key

SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def is_ready(pod: dict[str, Any]) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def _active(pod: Entry) -> bool:
    phase = (pod.obj.get("status") or {}).get("phase")
    return not pod.meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed")


def controller_ref(entry: Entry, kind: str) -> dict[str, Any] | None:
    """The controlling owner reference of `entry` when its owner is a `kind`."""
    for ref in entry.meta.get("ownerReferences") or ():
        if ref.get("kind") == kind and ref.get("controller"):
            return dict(ref)
    return None


@functools.lru_cache(maxsize=4096)
def _epoch(timestamp: str) -> int:
    return calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ")) if timestamp else 0


def _deletion_rank(pod: Entry) -> tuple[bool, bool, int]:
    """Smaller ranks are deleted first: unscheduled, then not ready, then the newest."""
    scheduled = bool((pod.obj.get("spec") or {}).get("nodeName"))
    return scheduled, is_ready(pod.obj), -_epoch(pod.meta.get("creationTimestamp", ""))


@dataclass
class Owned:
    """The active pods of one replica set (key -> ready) and how many are ready."""

    pods: dict[str, bool] = field(default_factory=dict)
    ready: int = 0

    def set(self, key: str, ready: bool | None) -> None:
        self.ready -= self.pods.pop(key, False)
        if ready is not None:
            self.pods[key] = ready
            self.ready += ready


class ReplicaSetController:
    """Reconciles replica sets queued by changes to them or to their pods; bounded per tick."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.queue: dict[str, None] = {}
        self.owned: dict[str, Owned] = {}
        self.pod_meta: dict[str, dict[str, Any]] = {}
        self.terminating: dict[str, set[str]] = {}
        registry.store.subscribe(self.observe, REPLICASETS.plural, PODS.plural)

    def counts(self, uid: str) -> tuple[int, int]:
        """(active pods, ready pods) of the replica set `uid`, as of now."""
        owned = self.owned.get(uid)
        return (len(owned.pods), owned.ready) if owned is not None else (0, 0)

    def terminating_pods(self, uid: str) -> int:
        """Pods of the replica set `uid` that are being deleted but still exist."""
        return len(self.terminating.get(uid, ()))

    def observe(self, change: Change) -> None:
        if change.resource == REPLICASETS.plural:
            if change.type == DELETED:
                self.owned.pop(change.new.meta.get("uid", ""), None)
                self.pod_meta.pop(change.new.meta.get("uid", ""), None)
            else:
                self.queue[change.key] = None
        elif change.resource == PODS.plural:
            self._observe_pod(change)

    def _observe_pod(self, change: Change) -> None:
        pod = change.new
        ref = controller_ref(pod, "ReplicaSet")
        if ref is None:
            return
        uid = ref.get("uid", "")
        owned = self.owned.setdefault(uid, Owned())
        active = change.type != DELETED and _active(pod)
        owned.set(change.key, is_ready(pod.obj) if active else None)
        if not owned.pods:
            del self.owned[uid]
        terminating = self.terminating.setdefault(uid, set())
        if change.type != DELETED and pod.meta.get("deletionTimestamp"):
            terminating.add(change.key)
        else:
            terminating.discard(change.key)
        if not terminating:
            del self.terminating[uid]
        self.queue[object_key(pod.meta["namespace"], ref["name"])] = None

    def step(self, budget: int) -> int:
        """Reconcile queued replica sets, creating or deleting at most `budget` pods."""
        spent = 0
        while self.queue and spent < budget:
            key = next(iter(self.queue))
            del self.queue[key]
            entry = self.registry.store.get(REPLICASETS.plural, key)
            if entry is None or entry.meta.get("deletionTimestamp"):
                continue
            allowed = budget - spent
            used = self.reconcile(entry, allowed)
            spent += used + 1
            if used >= allowed:
                self.queue[key] = None
        return spent

    def reconcile(self, entry: Entry, budget: int) -> int:
        """One pass; returns how many pods it created or deleted (at most `budget`)."""
        desired = int((entry.obj.get("spec") or {}).get("replicas", 1))
        active, _ = self.counts(entry.meta["uid"])
        used = 0
        if active < desired:
            used = min(desired - active, budget)
            for _ in range(used):
                self._create_pod(entry)
        elif active > desired:
            victims = self._victims(entry.meta["uid"], min(active - desired, budget))
            for pod in victims:
                self._delete_pod(pod)
            used = len(victims)
        self._write_status(entry)
        return used

    def _victims(self, uid: str, count: int) -> list[Entry]:
        """`count` pods to delete, chosen among a bounded number of the most recently changed."""
        owned = self.owned.get(uid) or Owned()
        limit = 4 * count + 64
        candidates = []
        for key in reversed(owned.pods):
            pod = self.registry.store.get(PODS.plural, key)
            if pod is not None:
                candidates.append(pod)
            if len(candidates) >= limit:
                break
        return heapq.nsmallest(count, candidates, key=_deletion_rank)

    def _pod_metadata(self, entry: Entry) -> dict[str, Any]:
        """Labels, annotations and owner reference shared by the pods of one replica set."""
        cached = self.pod_meta.get(entry.meta["uid"])
        if cached is not None:
            return cached
        tmeta = (entry.obj["spec"].get("template") or {}).get("metadata") or {}
        shared: dict[str, Any] = {
            "labels": dict(tmeta.get("labels") or {}),
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": entry.meta["name"],
                    "uid": entry.meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        }
        if tmeta.get("annotations"):
            shared["annotations"] = tmeta["annotations"]
        self.pod_meta[entry.meta["uid"]] = shared
        return shared

    def _create_pod(self, entry: Entry) -> None:
        suffix = "".join(random.choices(SUFFIX_CHARS, k=5))
        meta = {**self._pod_metadata(entry), "name": f"{entry.meta['name']}-{suffix}"}
        spec = (entry.obj["spec"].get("template") or {}).get("spec") or {}
        try:
            self.registry.create(PODS, entry.meta["namespace"], {"metadata": meta, "spec": spec})
        except ApiError:
            return

    def _delete_pod(self, pod: Entry) -> None:
        try:
            self.registry.delete(PODS, pod.meta["namespace"], pod.meta["name"], DeleteOptions())
        except ApiError:
            return

    def _write_status(self, entry: Entry) -> None:
        active, ready = self.counts(entry.meta["uid"])
        status: dict[str, Any] = {
            "replicas": active,
            "fullyLabeledReplicas": active,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": entry.meta.get("generation", 1),
        }
        status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
        if status != entry.obj.get("status"):
            self.registry.set_status(REPLICASETS, entry, status)
