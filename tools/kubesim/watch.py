"""Watch fan-out: one hub per cluster routes store changes to the open watch streams."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from tools.kubesim import tables
from tools.kubesim.errors import ApiError
from tools.kubesim.selectors import FieldSelector, LabelSelector
from tools.kubesim.store import ADDED, DELETED, MODIFIED, Change, Entry, Store, dumps

MAX_BACKLOG = 100_000


def event_line(kind: str, entry: Entry) -> bytes:
    return b'{"type":"' + kind.encode() + b'","object":' + entry.raw() + b"}\n"


def moved_out(old: Entry, rv: int) -> Entry:
    """What a watcher whose filter the object left receives: the last state it matched, at
    the resourceVersion of the change (as the watch cache does)."""
    obj = {**old.obj, "metadata": {**old.meta, "resourceVersion": str(rv)}}
    return Entry(obj, rv)


def error_line(error: ApiError) -> bytes:
    return dumps({"type": "ERROR", "object": error.status()}) + b"\n"


@dataclass(eq=False)
class Watcher:
    """One open watch: a filter and a queue of encoded event lines."""

    resource: str
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    lines: deque[bytes] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    aborted: bool = False
    table: str = ""

    def line(self, kind: str, entry: Entry) -> bytes:
        """The encoded event; a one-row Table (server-side printing) when `table` is set to
        the includeObject policy, as `kubectl get -w` asks."""
        if not self.table:
            return event_line(kind, entry)
        doc = tables.table(self.resource, [entry], entry.rv, self.table)
        return dumps({"type": kind, "object": doc}) + b"\n"

    def matches(self, entry: Entry | None) -> bool:
        if entry is None:
            return False
        if self.namespace and entry.meta.get("namespace") != self.namespace:
            return False
        return self.labels.matches(entry.labels) and self.fields.matches(entry.obj)

    def offer(self, change: Change) -> None:
        """Queue `change` as this watcher sees it: moving into or out of the filter is ADDED
        or DELETED."""
        now = change.type != DELETED and self.matches(change.new)
        before = self.matches(change.old)
        if now:
            self.push(self.line(MODIFIED if before else ADDED, change.new))
        elif before and change.type == DELETED:
            self.push(self.line(DELETED, change.new))
        elif before and change.old is not None:
            self.push(self.line(DELETED, moved_out(change.old, change.rv)))

    def push(self, line: bytes) -> None:
        if len(self.lines) >= MAX_BACKLOG:
            self.close(abort=True)
            return
        self.lines.append(line)
        self.wakeup.set()

    def close(self, abort: bool = False) -> None:
        """End the stream; `abort` cuts the connection instead of ending it cleanly."""
        self.closed = True
        self.aborted = self.aborted or abort
        self.wakeup.set()


class WatchHub:
    """Registers watchers and delivers every committed change to the interested ones."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.watchers: dict[str, set[Watcher]] = {}
        store.subscribe(self._deliver)

    def _deliver(self, change: Change) -> None:
        for watcher in self.watchers.get(change.resource, ()):
            watcher.offer(change)

    def open(self, watcher: Watcher, since: int | None) -> None:
        """Start `watcher` after `since` (replaying history), or with the current state as
        ADDED events when `since` is None. Raises 410 when `since` left the history."""
        store = self.store
        if since is None:
            table = store.table(watcher.resource)
            for key in table.sorted_keys():
                entry = table.entries[key]
                if watcher.matches(entry):
                    watcher.lines.append(watcher.line(ADDED, entry))
        else:
            if store.expired(since):
                raise ApiError(
                    410, f"too old resource version: {since} ({store.compacted + 1})", "Expired"
                )
            for change in store.changes_after(since):
                if change.resource == watcher.resource:
                    watcher.offer(change)
        self.watchers.setdefault(watcher.resource, set()).add(watcher)
        watcher.wakeup.set()

    def remove(self, watcher: Watcher) -> None:
        self.watchers.get(watcher.resource, set()).discard(watcher)

    def close_all(self, abort: bool = True) -> int:
        """Close every open watch (connection drop or shutdown); returns how many."""
        count = 0
        for watchers in self.watchers.values():
            for watcher in list(watchers):
                watcher.close(abort)
                count += 1
        return count
