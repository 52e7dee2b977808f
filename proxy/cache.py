"""Every proxy replica's local view of `/fed`, kept by one etcd watch.

Reads are answered from here without a round trip. The view (proxy.view: the decoded records
and how a change applies to them) is replaced wholesale when the watch resyncs, so it never
silently diverges from etcd. `wait_for_revision` lets a replica answer read-your-writes
after a write it forwarded to the leader. Request records (the
answers kept for exactly-once) are read from etcd when needed, so the watch drops them.

The leader narrows its watch to the shared range (Keys.shared_range): the writer's records
(workloads, reservations, request records) are changed by its own writer only, which hands
each commit to `apply_written` before answering. Taking them back from etcd cost the leader
~10% of its placements per second (etcd encoding and sending three records per placement,
the loop receiving, converting and matching them). `wait_for_revision` keeps its meaning:
the narrowed watch still delivers every change of the shared range in order, and the
writer's records are in the view once their commit returned. When leadership ends (or a
commit's outcome is unknown) the watch widens again with a full listing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from common import retry
from common.cancellation import cancel_and_wait
from common.etcd_store import (
    Delete,
    EtcdStore,
    EventType,
    KeyValue,
    Op,
    WatchBatch,
)
from common.keys import InvalidKey, Keys
from common.settings import RetrySettings
from proxy import metrics
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
    def __init__(
        self, store: EtcdStore, keys: Keys, retry_policy: RetrySettings | None = None
    ) -> None:
        self._store = store
        self._retry_policy = retry_policy or RetrySettings()
        self._keys = keys
        self.keys = keys
        self.known = KnownRecords()
        """What the leader's writer is committing: events carrying it reuse its records."""
        self._updater = ViewUpdater(keys, self.known)
        self._advanced = asyncio.Condition()
        self._subscribers: dict[asyncio.Queue[Change], tuple[str, ...]] = {}
        self._task: asyncio.Task[None] | None = None
        self._switching = asyncio.Lock()
        """One watch replaced at a time (a new leadership term may start while the last
        one's widening runs)."""
        self._widening: asyncio.Task[None] | None = None
        self._written_kinds = (keys.reservations_prefix(), keys.workloads_prefix())
        """The writer's records the view holds (request records it leaves out)."""
        self.narrowed = False
        """The watch leaves the writer's records out (this replica leads)."""
        self._sole_writer: Callable[[], bool] = lambda: True

    async def start(self) -> None:
        """Start following etcd and return once the first full listing is in."""
        await self._follow_from(narrowed=False)

    async def stop(self) -> None:
        await cancel_and_wait(*(task for task in (self._widening, self._task) if task is not None))
        self._task = self._widening = None

    async def narrow(self, sole_writer: Callable[[], bool]) -> None:
        """Follow the shared range only, from the next revision: the leader's writer hands
        its commits to `apply_written` from now on. The view is whole only while
        `sole_writer()` holds (this replica leads); once it fails, `wait_for_revision` holds
        its callers until the watch has widened again. A lead already lost by the time the
        watch switched (a reload that narrows again races the step-down that widened) widens
        it again at once."""
        if self._widening is not None:  # a widening the last leadership term left running
            await cancel_and_wait(self._widening)
            self._widening = None
        self._sole_writer = sole_writer
        await self._follow_from(narrowed=True, from_view=True)
        if not sole_writer():
            self.widen_soon()

    async def widen(self) -> None:
        """Follow everything again, from a full listing (raises EtcdUnavailable, still
        narrowed, when etcd cannot list)."""
        await self._follow_from(narrowed=False)

    def widen_soon(self) -> None:
        """Widen in the background, retrying on the retry policy's backoff until etcd
        lists."""
        if self.narrowed and self._widening is None:
            self._widening = asyncio.create_task(self._widen_until_done(), name="widen")

    async def _widen_until_done(self) -> None:
        backoff = retry.Backoff(self._retry_policy)
        while True:
            try:
                await self.widen()
            except Exception as exc:  # whatever failed, a narrowed follower must widen
                _log.warning("cannot widen the watch yet", extra={"err": str(exc)})
                await backoff.wait()
            else:
                self._widening = None
                return

    async def _follow_from(self, *, narrowed: bool, from_view: bool = False) -> None:
        """Replace the watch: list first, or with `from_view` go on right after the
        revision the view holds (the old watch runs until the listing is in, and stays if
        it fails)."""
        async with self._switching:
            await self._replace_watch(narrowed, from_view)
        async with self._advanced:
            self._advanced.notify_all()

    async def _replace_watch(self, narrowed: bool, from_view: bool) -> None:
        start, end = self._keys.shared_range() if narrowed else (self._keys.prefix + "/", None)
        listing = None if from_view else self._watch(start, end, None)
        first = await anext(listing) if listing is not None else None
        if self._task is not None:
            await cancel_and_wait(self._task)
        if listing is not None and first is not None:
            self._apply(first, keep_written=narrowed)
            watch = listing
        else:  # the old watch has stopped: the view holds everything up to its revision
            watch = self._watch(start, end, self.view.revision + 1)
        self.narrowed = narrowed
        metrics.CACHE_NARROWED.set(int(narrowed))
        self._task = asyncio.create_task(self._follow(watch, narrowed), name="fed-cache")

    def _watch(
        self, start: str, end: str | None, start_revision: int | None
    ) -> AsyncGenerator[WatchBatch, None]:
        return self._store.watch_prefix(
            start, end=end, start_revision=start_revision, ignore=(self._keys.requests_prefix(),)
        )

    def apply_written(self, revision: int, ops: Sequence[Op]) -> None:
        """The leader's writer committed `ops` at `revision`: while narrowed, its records
        reach the view and the subscribers here (the watch leaves them out)."""
        if not self.narrowed:
            return
        for op in ops:
            if not op.key.startswith(self._written_kinds):
                continue
            deleted = isinstance(op, Delete)
            value = b"" if isinstance(op, Delete) else op.value
            self._dispatch(KeyValue(op.key, value, 0, revision, 0, 0), deleted)
            self._publish(revision, op.key, deleted)

    @property
    def view(self) -> FedView:
        """The state as of the last change applied (replaced wholesale by a resync)."""
        return self._updater.view

    @property
    def revision(self) -> int:
        return self.view.revision

    async def wait_for_revision(self, revision: int, timeout_s: float) -> None:
        """Return once the view reflects `revision` (raises TimeoutError otherwise). A
        narrowed view whose writer may no longer be the only one reflects nothing: another
        leader may have changed the records it leaves out."""
        async with asyncio.timeout(timeout_s), self._advanced:
            await self._advanced.wait_for(
                lambda: (
                    self.view.revision >= revision and (not self.narrowed or self._sole_writer())
                )
            )

    def subscribe(self, *prefixes: str) -> asyncio.Queue[Change]:
        """A queue of the changes to keys under `prefixes` (every key when none is given),
        and of every resync. A subscriber that wants a few kinds of record is not woken by
        each of the leader's own writes."""
        queue: asyncio.Queue[Change] = asyncio.Queue()
        self._subscribers[queue] = prefixes
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Change]) -> None:
        self._subscribers.pop(queue, None)

    async def _follow(self, watch: AsyncGenerator[WatchBatch, None], narrowed: bool) -> None:
        async for batch in watch:
            self._apply(batch, keep_written=narrowed)
            async with self._advanced:
                self._advanced.notify_all()

    def _apply(self, batch: WatchBatch, *, keep_written: bool = False) -> None:
        if batch.resynced:
            self._updater.reset(keep_written)
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
