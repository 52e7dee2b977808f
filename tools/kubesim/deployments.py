"""The deployment controller, on top of ReplicaSets as in Kubernetes: one ReplicaSet per pod
template (named <deployment>-<pod-template-hash>), scaled for rolling updates (maxSurge,
maxUnavailable) or Recreate, old ones kept up to revisionHistoryLimit, and the Deployment
status summed from its ReplicaSets' pods. Pods counts come from the replica set
controller's incremental index, so a reconcile never walks all pods.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from typing import Any

from tools.kubesim.errors import ApiError
from tools.kubesim.events import EventRecorder
from tools.kubesim.registry import DeleteOptions, Registry
from tools.kubesim.replicasets import ReplicaSetController, controller_ref
from tools.kubesim.resources import DEPLOYMENTS, PODS, REPLICASETS
from tools.kubesim.store import DELETED, Change, Entry, object_key
from tools.kubesim.units import rfc3339

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
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


@dataclass
class Group:
    """One ReplicaSet of a deployment: its object, wanted replicas and live pod counts."""

    rs: Entry | None
    spec: int
    active: int
    ready: int
    target: int = 0


def _revision(replica_set: Entry) -> int:
    return int((replica_set.meta.get("annotations") or {}).get(REVISION, "0"))


def rolling_targets(
    desired: int, surge: int, unavailable: int, new: Group, old: list[Group]
) -> None:
    """Set `target` on every group for one rolling-update step (Kubernetes' arithmetic:
    scale the new set up within maxSurge, clean unhealthy old pods, then scale old sets down
    as far as maxUnavailable allows). `old` is ordered oldest first."""
    total_spec = new.spec + sum(g.spec for g in old)
    if new.spec >= desired:
        new.target = desired
    else:
        new.target = min(desired, new.spec + max(0, desired + surge - total_spec))
    for group in old:
        group.target = group.spec
    min_available = desired - unavailable
    room = total_spec - min_available - max(0, new.spec - new.ready)
    for group in old:
        cut = max(0, min(room, group.spec - group.ready))
        group.target -= cut
        room -= cut
    surplus = max(0, new.ready + sum(g.ready for g in old) - min_available)
    for group in old:
        cut = min(group.target, surplus)
        group.target -= cut
        surplus -= cut


class DeploymentController:
    """Reconciles deployments queued by changes to them or to their ReplicaSets."""

    def __init__(
        self, registry: Registry, recorder: EventRecorder, replicasets: ReplicaSetController
    ) -> None:
        self.registry = registry
        self.recorder = recorder
        self.replicasets = replicasets
        self.queue: dict[str, None] = {}
        registry.store.subscribe(self.observe, DEPLOYMENTS.plural, REPLICASETS.plural, PODS.plural)

    def observe(self, change: Change) -> None:
        if change.resource == DEPLOYMENTS.plural and change.type != DELETED:
            self.queue[change.key] = None
        elif change.resource == REPLICASETS.plural:
            self._queue_owner(change.new)
        elif change.resource == PODS.plural and change.type == DELETED:
            ref = controller_ref(change.new, "ReplicaSet")
            namespace = change.new.meta["namespace"]
            owner = (
                self.registry.store.get(REPLICASETS.plural, object_key(namespace, ref["name"]))
                if ref
                else None
            )
            if owner is not None:
                self._queue_owner(owner)

    def _queue_owner(self, replica_set: Entry) -> None:
        """Queue the Deployment controlling `replica_set` (a pod of it left for good, or the
        set itself changed: Recreate waits for terminating pods to be gone)."""
        ref = controller_ref(replica_set, "Deployment")
        if ref is not None:
            self.queue[object_key(replica_set.meta["namespace"], ref["name"])] = None

    def step(self, budget: int) -> int:
        """Reconcile up to `budget` queued deployments."""
        done = 0
        while self.queue and done < budget:
            key = next(iter(self.queue))
            del self.queue[key]
            entry = self.registry.store.get(DEPLOYMENTS.plural, key)
            if entry is not None and not entry.meta.get("deletionTimestamp"):
                self.reconcile(entry)
                done += 1
        return done

    def _groups(self, entry: Entry, current: str) -> tuple[Group, list[Group]]:
        """The new (current template) group and the old ones, oldest first."""
        uid = entry.meta["uid"]
        store = self.registry.store
        sets = []
        for resource, key in store.dependents.get(uid, ()):
            rs = store.get(resource, key) if resource == REPLICASETS.plural else None
            ref = controller_ref(rs, "Deployment") if rs is not None else None
            if rs is not None and ref is not None and ref.get("uid") == uid:
                sets.append(rs)
        sets.sort(key=lambda rs: (_revision(rs), rs.meta["name"]))
        new = Group(None, 0, 0, 0)
        old = []
        for rs in sets:
            active, ready = self.replicasets.counts(rs.meta["uid"])
            group = Group(rs, int(rs.obj["spec"].get("replicas", 0)), active, ready)
            if rs.labels.get(HASH_LABEL) == current:
                new = group
            else:
                old.append(group)
        return new, old

    def reconcile(self, entry: Entry) -> None:
        spec = entry.obj.get("spec") or {}
        current = template_hash(spec.get("template") or {})
        desired = int(spec.get("replicas", 1))
        new, old = self._groups(entry, current)
        if not spec.get("paused"):
            self._plan(spec, desired, new, old)
            if new.rs is None:
                new.rs = self._create_set(entry, current, new.target, old)
                new.spec = new.target
            else:
                new.rs = self._promote(new.rs, old)
            for group in [new, *old]:
                self._scale(entry, group)
            self._prune(spec, old)
            entry = self._record_revision(entry, new.rs)
        self._write_status(entry, new, old, desired)

    def _promote(self, new_set: Entry, old: list[Group]) -> Entry:
        """A template that comes back (rollout undo) gets the next revision number."""
        latest = max((_revision(g.rs) for g in old if g.rs is not None), default=0)
        if _revision(new_set) > latest:
            return new_set
        annotations = {**(new_set.meta.get("annotations") or {}), REVISION: str(latest + 1)}
        meta = {**new_set.meta, "annotations": annotations}
        return self.registry.write(REPLICASETS, new_set, {**new_set.obj, "metadata": meta})

    def _record_revision(self, entry: Entry, new_set: Entry | None) -> Entry:
        """Copy the new ReplicaSet's revision annotation onto the Deployment, as Kubernetes
        does (kubectl rollout undo patches that annotation)."""
        if new_set is None:
            return entry
        revision = (new_set.meta.get("annotations") or {}).get(REVISION)
        annotations = entry.meta.get("annotations") or {}
        if revision is None or annotations.get(REVISION) == revision:
            return entry
        meta = {**entry.meta, "annotations": {**annotations, REVISION: revision}}
        return self.registry.write(DEPLOYMENTS, entry, {**entry.obj, "metadata": meta})

    def _plan(self, spec: dict[str, Any], desired: int, new: Group, old: list[Group]) -> None:
        strategy = spec.get("strategy") or {}
        if strategy.get("type") == "Recreate":
            for group in old:
                group.target = 0
            gone = not any(g.active or self._terminating(g) for g in old)
            new.target = desired if gone else 0
        elif not any(g.spec or g.active for g in old):
            new.target = desired
        else:
            rolling = strategy.get("rollingUpdate") or {}
            surge = resolve(rolling.get("maxSurge", "25%"), desired, True)
            unavailable = resolve(rolling.get("maxUnavailable", "25%"), desired, False)
            if surge == 0 and unavailable == 0:
                unavailable = 1
            rolling_targets(desired, surge, unavailable, new, old)

    def _terminating(self, group: Group) -> int:
        return self.replicasets.terminating_pods(group.rs.meta["uid"]) if group.rs else 0

    def _create_set(
        self, entry: Entry, current: str, replicas: int, old: list[Group]
    ) -> Entry | None:
        meta = entry.meta
        template = entry.obj["spec"].get("template") or {}
        tmeta = dict(template.get("metadata") or {})
        labels = {**(tmeta.get("labels") or {}), HASH_LABEL: current}
        selector = dict(entry.obj["spec"].get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: current}
        revision = 1 + max((_revision(g.rs) for g in old if g.rs is not None), default=0)
        body = {
            "metadata": {
                "name": f"{meta['name']}-{current}",
                "labels": labels,
                "annotations": {REVISION: str(revision)},
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
            "spec": {
                "replicas": replicas,
                "selector": selector,
                "template": {**template, "metadata": {**tmeta, "labels": labels}},
            },
        }
        try:
            created = self.registry.create(REPLICASETS, meta["namespace"], body)
        except ApiError:
            return None
        self._event(entry, created.meta["name"], 0, replicas)
        return created

    def _scale(self, entry: Entry, group: Group) -> None:
        rs = group.rs
        if rs is None or group.target == group.spec:
            return
        latest = self.registry.store.get(
            REPLICASETS.plural, object_key(rs.meta["namespace"], rs.meta["name"])
        )
        if latest is None:
            return
        obj = {**latest.obj, "spec": {**latest.obj["spec"], "replicas": group.target}}
        group.rs = self.registry.replace_entry(REPLICASETS, latest, obj)
        self._event(entry, rs.meta["name"], group.spec, group.target)
        group.spec = group.target

    def _event(self, entry: Entry, name: str, before: int, after: int) -> None:
        if before == after:
            return
        direction = "up" if after > before else "down"
        message = f"Scaled {direction} replica set {name} from {before} to {after}"
        self.recorder.record(entry, "Normal", "ScalingReplicaSet", message, CONTROLLER)

    def _prune(self, spec: dict[str, Any], old: list[Group]) -> None:
        """Delete the oldest empty old ReplicaSets beyond revisionHistoryLimit."""
        limit = int(spec.get("revisionHistoryLimit", 10))
        empty = [g.rs for g in old if g.rs is not None and g.spec == 0 and g.active == 0]
        for rs in empty[: max(0, len(empty) - limit)]:
            meta = rs.meta
            try:
                self.registry.delete(REPLICASETS, meta["namespace"], meta["name"], DeleteOptions())
            except ApiError:
                continue

    def _write_status(self, entry: Entry, new: Group, old: list[Group], desired: int) -> None:
        spec = entry.obj.get("spec") or {}
        rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
        unavailable = resolve(rolling.get("maxUnavailable", "25%"), desired, False)
        prior = entry.obj.get("status") or {}
        total = new.active + sum(g.active for g in old)
        ready = new.ready + sum(g.ready for g in old)
        status: dict[str, Any] = {
            "observedGeneration": entry.meta.get("generation", 1),
            "replicas": total,
            "updatedReplicas": new.active,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(0, desired - ready),
        }
        status = {k: v for k, v in status.items() if v or k == "observedGeneration"}
        available = ready >= desired - unavailable
        complete = new.active == desired and total == desired and new.ready >= desired
        rs_name = new.rs.meta["name"] if new.rs is not None else entry.meta["name"]
        status["conditions"] = [
            _condition(
                prior,
                "Available",
                available,
                "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                "Deployment has minimum availability."
                if available
                else "Deployment does not have minimum availability.",
            ),
            _condition(
                prior,
                "Progressing",
                True,
                "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                f'ReplicaSet "{rs_name}" has successfully progressed.'
                if complete
                else f'ReplicaSet "{rs_name}" is progressing.',
            ),
        ]
        if status != prior:
            self.registry.set_status(DEPLOYMENTS, entry, status)


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
