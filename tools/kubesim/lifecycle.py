"""Garbage collection of dependents and namespace termination, bounded per tick."""

from __future__ import annotations

from tools.kubesim.errors import ApiError
from tools.kubesim.registry import DeleteOptions, Registry
from tools.kubesim.resources import NAMESPACES, STORED
from tools.kubesim.store import DELETED, Change


class GarbageCollector:
    """Deletes objects whose owner was deleted (background propagation)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.owners: dict[str, None] = {}
        registry.store.subscribe(self.observe)

    def observe(self, change: Change) -> None:
        if change.type == DELETED:
            uid = change.new.meta.get("uid")
            if uid and uid in self.registry.store.dependents:
                self.owners[uid] = None

    def step(self, budget: int) -> int:
        done = 0
        while self.owners and done < budget:
            uid = next(iter(self.owners))
            dependents = sorted(self.registry.store.dependents.get(uid, ()))
            for resource, key in dependents[: budget - done]:
                done += 1
                self._delete(resource, key, uid)
            if not self.registry.store.dependents.get(uid) or len(dependents) <= budget:
                self.owners.pop(uid, None)
        return done

    def _delete(self, resource: str, key: str, owner_uid: str) -> None:
        entry = self.registry.store.get(resource, key)
        if entry is None or entry.meta.get("deletionTimestamp"):
            return
        rt = next(r for r in STORED if r.plural == resource)
        try:
            self.registry.delete(
                rt, entry.meta.get("namespace"), entry.meta["name"], DeleteOptions()
            )
        except ApiError:
            return


class NamespaceController:
    """Empties a Terminating namespace, then removes its `kubernetes` finalizer."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.terminating: dict[str, None] = {}
        registry.store.subscribe(self.observe, NAMESPACES.plural)

    def observe(self, change: Change) -> None:
        deleting = change.type != DELETED and change.new.meta.get("deletionTimestamp")
        if change.resource == NAMESPACES.plural and deleting:
            self.terminating[change.key] = None

    def step(self, budget: int) -> int:
        done = 0
        for name in list(self.terminating):
            if done >= budget:
                break
            remaining, spent = self._empty(name, budget - done)
            done += spent + 1
            if not remaining:
                self._finalize(name)
                del self.terminating[name]
        return done

    def _empty(self, namespace: str, budget: int) -> tuple[int, int]:
        """Delete up to `budget` objects in `namespace`; returns (objects left, deletes)."""
        remaining = spent = 0
        prefix = f"{namespace}/"
        for rt in STORED:
            if not rt.namespaced:
                continue
            table = self.registry.store.table(rt.plural)
            for key in list(table.keys_from(prefix, "")):
                remaining += 1
                entry = table.entries.get(key)
                if entry is None or entry.meta.get("deletionTimestamp") or spent >= budget:
                    continue
                spent += 1
                try:
                    self.registry.delete(rt, namespace, entry.meta["name"], DeleteOptions())
                except ApiError:
                    continue
        return remaining, spent

    def _finalize(self, name: str) -> None:
        entry = self.registry.store.get(NAMESPACES.plural, name)
        if entry is None:
            return
        spec = {**(entry.obj.get("spec") or {}), "finalizers": []}
        self.registry.replace_entry(NAMESPACES, entry, {**entry.obj, "spec": spec}, "finalize")
