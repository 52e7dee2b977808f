"""Every proxy replica's local view of `/fed`, kept by one etcd watch.

Reads are answered from here without a round trip. The view (proxy.view: the decoded records
and how a change applies to them) is replaced wholesale when the watch resyncs, so it never
silently diverges from etcd. `wait_for_revision` lets a replica answer read-your-writes
after a write it forwarded to the leader. Request records (the
answers kept for exactly-once) are read from etcd when needed, so the watch drops them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from common.etcd_store import EtcdStore, EventType, KeyValue, WatchBatch
from common.keys import InvalidKey, Keys
from proxy.known_records import KnownRecords
from proxy.view import FedView, ViewUpdater

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    """One key that changed, for subscribers (a resync is reported as `resynced`)."""

    revision: int
    key: str
    deleted: bool = False
    resynced: bool = False


class FedCache:
    def __init__(self, store: EtcdStore, keys: Keys) -> None:
        self._store = store
        self._keys = keys
        self.keys = keys
        self.known = KnownRecords()
        """What the leader's writer is committing: events carrying it reuse its records."""
        self._updater = ViewUpdater(keys, self.known)
        self._advanced = asyncio.Condition()
        self._subscribers: dict[asyncio.Queue[Change], tuple[str, ...]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start following etcd and return once the first full listing is in."""
        watch = self._store.watch_prefix(
            self._keys.prefix + "/", ignore=(self._keys.requests_prefix(),)
        )
        first = await anext(watch)
        self._apply(first)
        self._task = asyncio.create_task(self._follow(watch), name="fed-cache")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def view(self) -> FedView:
        """The state as of the last change applied (replaced wholesale by a resync)."""
        return self._updater.view

    @property
    def revision(self) -> int:
        return self.view.revision

    async def wait_for_revision(self, revision: int, timeout_s: float) -> None:
        """Return once the view reflects `revision` (raises TimeoutError otherwise)."""
        async with asyncio.timeout(timeout_s), self._advanced:
            await self._advanced.wait_for(lambda: self.view.revision >= revision)

    def subscribe(self, *prefixes: str) -> asyncio.Queue[Change]:
        """A queue of the changes to keys under `prefixes` (every key when none is given),
        and of every resync. A subscriber that wants a few kinds of record is not woken by
        each of the leader's own writes."""
        queue: asyncio.Queue[Change] = asyncio.Queue()
        self._subscribers[queue] = prefixes
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Change]) -> None:
        self._subscribers.pop(queue, None)

    async def _follow(self, watch: AsyncGenerator[WatchBatch, None]) -> None:
        async for batch in watch:
            self._apply(batch)
            async with self._advanced:
                self._advanced.notify_all()

    def _apply(self, batch: WatchBatch) -> None:
        if batch.resynced:
            self._updater.reset()
            for kv in batch.snapshot:
                self._dispatch(kv, deleted=False)
            self._publish(batch.revision, self._keys.prefix, resynced=True)
        for event in batch.events:
            deleted = event.type is EventType.DELETE
            self._dispatch(event.kv, deleted)
            self._publish(event.kv.mod_revision, event.kv.key, deleted)
        self.view.revision = max(self.view.revision, batch.revision)

    def _publish(
        self, revision: int, key: str, deleted: bool = False, resynced: bool = False
    ) -> None:
        """Queue the change for the subscribers that follow its key (built only if one does:
        most of the leader's own writes interest nobody)."""
        change: Change | None = None
        for queue, prefixes in self._subscribers.items():
            if not prefixes or resynced or key.startswith(prefixes):
                if change is None:
                    change = Change(revision, key, deleted, resynced)
                queue.put_nowait(change)

    def _dispatch(self, kv: KeyValue, deleted: bool) -> None:
        try:
            self._updater.apply(kv, deleted)
        except (DecodeError, InvalidKey) as exc:
            _log.error("undecodable record", extra={"key": kv.key, "err": str(exc)})
