"""One cluster's object store: objects, the shared resourceVersion counter, history, watchers.

Objects are plain dicts stored once and never mutated in place: every write stores a new
top-level dict (sharing untouched subtrees), so the JSON bytes can be cached per version.
"""

from __future__ import annotations

import bisect
import json
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes, as the API server writes them."""
    return _ENCODER.encode(obj).encode()


@dataclass(slots=True)
class Entry:
    """A stored object version; `raw()` serialises it once."""

    obj: dict[str, Any]
    rv: int
    _raw: bytes | None = None

    def raw(self) -> bytes:
        if self._raw is None:
            self._raw = dumps(self.obj)
        return self._raw

    @property
    def meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = self.obj["metadata"]
        return meta

    @property
    def labels(self) -> dict[str, str]:
        labels: dict[str, str] = self.meta.get("labels") or {}
        return labels


@dataclass(slots=True)
class Change:
    """One committed write, as the history and watchers see it."""

    rv: int
    type: str
    resource: str
    key: str
    new: Entry
    old: Entry | None


Listener = Callable[[Change], None]


def object_key(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


@dataclass
class Table:
    """The objects of one resource, with their keys kept sorted for paginated lists."""

    entries: dict[str, Entry] = field(default_factory=dict)
    _sorted: list[str] | None = None

    def sorted_keys(self) -> list[str]:
        if self._sorted is None:
            self._sorted = sorted(self.entries)
        return self._sorted

    def keys_from(self, prefix: str, after: str) -> Iterator[str]:
        """Keys starting with `prefix` (namespace + "/"), strictly after `after`, in order."""
        keys = self.sorted_keys()
        start = max(prefix, after)
        idx = (
            bisect.bisect_right(keys, start) if after >= prefix else bisect.bisect_left(keys, start)
        )
        for key in keys[idx:]:
            if not key.startswith(prefix):
                return
            yield key


class Store:
    """All resources of one cluster; writes are synchronous so they are atomic in asyncio."""

    def __init__(self, history_size: int = 10_000) -> None:
        self.rv = 0
        self.tables: dict[str, Table] = {}
        self.history: deque[Change] = deque(maxlen=history_size)
        self.compacted = 0
        self.listeners: list[Listener] = []
        self.resource_listeners: dict[str, list[Listener]] = {}
        self.dependents: dict[str, set[tuple[str, str]]] = {}

    def subscribe(self, listener: Listener, *resources: str) -> None:
        """Call `listener` with every committed change to `resources` (all when none given)."""
        if not resources:
            self.listeners.append(listener)
        for resource in resources:
            self.resource_listeners.setdefault(resource, []).append(listener)

    def table(self, resource: str) -> Table:
        table = self.tables.get(resource)
        if table is None:
            table = self.tables[resource] = Table()
        return table

    def get(self, resource: str, key: str) -> Entry | None:
        return self.table(resource).entries.get(key)

    def count(self, resource: str) -> int:
        return len(self.table(resource).entries)

    def commit(self, resource: str, key: str, obj: dict[str, Any] | None) -> Entry:
        """Store `obj` under `key` (None deletes it) at a new resourceVersion and publish it."""
        table = self.table(resource)
        old = table.entries.get(key)
        self.rv += 1
        rv = self.rv
        if obj is None:
            if old is None:
                raise KeyError(key)
            obj = {**old.obj, "metadata": {**old.meta, "resourceVersion": str(rv)}}
            entry = Entry(obj, rv)
            del table.entries[key]
            table._sorted = None
            kind = DELETED
        else:
            obj["metadata"] = {**obj["metadata"], "resourceVersion": str(rv)}
            entry = Entry(obj, rv)
            if old is None:
                table._sorted = None
            table.entries[key] = entry
            kind = ADDED if old is None else MODIFIED
        self._index_owners(resource, key, old, None if kind == DELETED else entry)
        self._publish(Change(rv, kind, resource, key, entry, old))
        return entry

    def _index_owners(self, resource: str, key: str, old: Entry | None, new: Entry | None) -> None:
        refs_before = old.meta.get("ownerReferences") if old is not None else None
        refs_after = new.meta.get("ownerReferences") if new is not None else None
        if refs_before is refs_after:
            return
        before = _owner_uids(refs_before)
        after = _owner_uids(refs_after)
        if before == after:
            return
        for uid in before - after:
            deps = self.dependents.get(uid)
            if deps is not None:
                deps.discard((resource, key))
                if not deps:
                    del self.dependents[uid]
        for uid in after - before:
            self.dependents.setdefault(uid, set()).add((resource, key))

    def _publish(self, change: Change) -> None:
        if len(self.history) == self.history.maxlen:
            self.compacted = self.history[0].rv
        self.history.append(change)
        for listener in self.resource_listeners.get(change.resource, ()):
            listener(change)
        for listener in self.listeners:
            listener(change)

    def changes_after(self, rv: int) -> list[Change]:
        """Every change with a resourceVersion above `rv`, oldest first."""
        history = self.history
        if not history or history[-1].rv <= rv:
            return []
        idx = bisect.bisect_right(history, rv, key=lambda c: c.rv)
        return [history[i] for i in range(idx, len(history))]

    def expired(self, rv: int) -> bool:
        """True when changes after `rv` are no longer all in the history."""
        return rv < self.compacted

    def entries_at(self, resource: str, prefix: str, after: str, rv: int) -> Iterator[Entry]:
        """The objects of `resource` as they were at `rv`, in key order (for consistent paging)."""
        overrides: dict[str, Entry | None] = {}
        for change in self.changes_after(rv):
            if change.resource == resource and change.key not in overrides:
                overrides[change.key] = change.old
        table = self.table(resource)
        keys = set(table.keys_from(prefix, after))
        keys.update(k for k in overrides if k.startswith(prefix) and k > after)
        for key in sorted(keys):
            entry = overrides[key] if key in overrides else table.entries.get(key)
            if entry is not None:
                yield entry


def _owner_uids(refs: list[dict[str, Any]] | None) -> frozenset[str]:
    if not refs:
        return frozenset()
    return frozenset(r.get("uid", "") for r in refs)
