"""The one etcd access layer; the only module that imports etcd3aio.

Typed reads and writes, transactions, fenced transactions (compare the create_revision of
the leader's election key: the epoch), leases whose keepalive records when the server last
acknowledged it, and a prefix watch that resumes from its own last revision after a
disconnect and re-lists (telling the caller) when that revision was compacted. etcd3aio by
itself jumps past a compaction and resumes from the response header's revision, which can
be ahead of the events already delivered; neither may happen here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Self, TypeVar

import grpc
from etcd3aio import (
    Etcd3Client,
    EtcdConnectionError,
    EtcdTransientError,
    SortOrder,
    SortTarget,
    prefix_range_end,
)
from etcd3aio._protobuf import Compare as RawCompare
from etcd3aio._protobuf import TxnRequest
from etcd3aio.kv import KVService

from common import metrics, retry
from common.cancellation import cancel_and_wait
from common.etcd_types import (
    Compare,
    CompareOp,
    CompareTarget,
    Delete,
    EventType,
    KeyValue,
    Op,
    Put,
    WatchEvent,
    key_value,
    op_bytes,
    watch_events,
)
from common.settings import EtcdSettings, RetrySettings

_log = logging.getLogger(__name__)
R = TypeVar("R")
TXN_MARGIN = 8 * 1024
"""Room in a request for what op_bytes leaves out: the fence, the request's own framing and
etcd's wrapping of it into a raft entry (which its max-request-bytes limits)."""
__all__ = [
    "Compare",
    "CompareOp",
    "CompareTarget",
    "Delete",
    "EtcdStore",
    "EtcdUnavailable",
    "EventType",
    "Fence",
    "FencedOut",
    "KeyValue",
    "Lease",
    "Op",
    "Put",
    "RangeResult",
    "TooManyOps",
    "TxnResult",
    "WatchBatch",
    "WatchEvent",
    "op_bytes",
]


class EtcdUnavailable(Exception):
    """etcd could not be reached (or did not answer in time) after the retry policy."""


class FencedOut(Exception):
    """A fenced transaction was rejected: the epoch it carried is no longer the leader's."""


class TooManyOps(ValueError):
    """A transaction holds more operations than the server's max-txn-ops."""


@dataclass(frozen=True, slots=True)
class Fence:
    """A leader's epoch: its election key must still have this create_revision."""

    key: str
    epoch: int


@dataclass(frozen=True, slots=True)
class TxnResult:
    succeeded: bool
    revision: int


@dataclass(frozen=True, slots=True)
class RangeResult:
    kvs: list[KeyValue]
    revision: int


@dataclass(frozen=True, slots=True)
class WatchBatch:
    """What one watch step delivers.

    With `resynced` the watch (re-)listed the prefix: `snapshot` is the whole current state at
    `revision` and replaces whatever the caller held; `events` is empty. Otherwise `events`
    are the changes up to `revision`, in order.
    """

    revision: int
    events: list[WatchEvent] = field(default_factory=list)
    resynced: bool = False
    snapshot: list[KeyValue] = field(default_factory=list)


_COMPARE_RESULTS = {"==": 0, ">": 1, "<": 2, "!=": 3}
_COMPARE_TARGETS = {"version": 0, "create": 1, "mod": 2, "value": 3}
_RETRYABLE = (EtcdConnectionError, EtcdTransientError, TimeoutError)
RANGE_PAGE = 1000
"""Keys per range request: the proxy's records of ~300 B make pages of ~300 KB."""
_ONCE = RetrySettings(attempts=1)
_PLAIN_TXN_SECONDS = metrics.ETCD_TXN_SECONDS.labels("plain")
_FENCED_TXN_SECONDS = metrics.ETCD_TXN_SECONDS.labels("fenced")


def _compare(compare: Compare) -> RawCompare:
    raw = RawCompare(
        result=_COMPARE_RESULTS[compare.op],
        target=_COMPARE_TARGETS[compare.target],
        key=compare.key.encode(),
    )
    if compare.target == "value":
        raw.value = bytes(compare.operand) if isinstance(compare.operand, bytes) else b""
    else:
        setattr(
            raw,
            f"{compare.target}_revision" if compare.target != "version" else "version",
            int(compare.operand),
        )
    return raw


def _txn_request(
    compares: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op]
) -> TxnRequest:
    """The request with every op filled in place: etcd3aio's KVService.txn copies each op it
    is given into a new request, and a fenced batch holds a few ops per placement."""
    request = TxnRequest()
    request.compare.extend(_compare(compare) for compare in compares)
    for op in success:
        _fill_op(request.success.add(), op)
    for op in failure:
        _fill_op(request.failure.add(), op)
    return request


def _fill_op(raw: Any, op: Op) -> None:
    if isinstance(op, Put):
        put = raw.request_put
        put.key = op.key.encode()
        put.value = op.value
        if op.lease:
            put.lease = op.lease
        return
    delete = raw.request_delete_range
    delete.key = op.key.encode()
    if op.prefix:
        delete.range_end = prefix_range_end(op.key)


class Lease:
    """A lease kept alive in the background, remembering when the server last acknowledged it.

    The acknowledgement time is taken when the keepalive request was *sent*, so that
    `seconds_since_ack` never underestimates how long the server may have counted down.
    """

    def __init__(self, store: EtcdStore, lease_id: int, ttl_s: int, granted_at: float) -> None:
        self.id = lease_id
        self.ttl_s = ttl_s
        self._store = store
        self._last_ack = granted_at
        self._expired = asyncio.Event()
        self._acked = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def last_ack(self) -> float:
        """time.monotonic() of the send of the last acknowledged keepalive (or the grant)."""
        return self._last_ack

    def seconds_since_ack(self) -> float:
        return time.monotonic() - self._last_ack

    async def next_ack(self) -> float:
        """Wait for the next acknowledged keepalive; returns its `last_ack`."""
        acked = self._acked
        await acked.wait()
        return self._last_ack

    @property
    def expired(self) -> asyncio.Event:
        """Set once the server said the lease is gone."""
        return self._expired

    def start_keepalive(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._keepalive_loop(), name=f"lease-{self.id:x}")

    async def stop_keepalive(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def revoke(self) -> None:
        await self.stop_keepalive()
        with contextlib.suppress(EtcdUnavailable):
            await self._store.revoke_lease(self.id)
        self._expired.set()

    async def _keepalive_loop(self) -> None:
        interval = max(0.2, self.ttl_s / 4)
        while not self._expired.is_set():
            sent_at = time.monotonic()
            try:
                remaining = await self._store.keepalive_once(self.id, timeout_s=interval)
            except EtcdUnavailable as exc:
                _log.warning(
                    "lease keepalive failed", extra={"lease": f"{self.id:x}", "err": str(exc)}
                )
                await asyncio.sleep(interval / 2)
                continue
            if remaining <= 0:
                _log.warning("lease expired on the server", extra={"lease": f"{self.id:x}"})
                self._expired.set()
                return
            self._last_ack = sent_at
            self._acked.set()
            self._acked = asyncio.Event()
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - sent_at)))


def _extend_channel_options(client: Etcd3Client, policy: RetrySettings) -> None:
    """Reconnect as retry.channel_options says, and take responses of any size, as etcd's own
    client does: a watch that catches up sends up to 1,000 revisions in one response, and one
    over gRPC's default 4 MiB limit broke the stream at every attempt, so the watch never
    caught up. etcd3aio has no public setting for channel options: its connection manager's
    are extended before the channel is made."""
    client._manager.grpc_options += [
        *retry.channel_options(policy),
        ("grpc.max_receive_message_length", -1),
    ]


class EtcdStore:
    """Async access to etcd: typed KV, transactions, fencing, leases and resyncing watches."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        timeout_s: float = 5.0,
        max_txn_ops: int = 128,
        max_request_bytes: int = EtcdSettings.max_request_bytes,
        retry_policy: RetrySettings | None = None,
    ) -> None:
        self.endpoints = list(endpoints)
        self.timeout_s = timeout_s
        self.max_txn_ops = max_txn_ops
        self.max_txn_bytes = max_request_bytes - TXN_MARGIN
        """What the ops and compares of one transaction may add up to (see op_bytes)."""
        self.written_revision = 0
        """The revision of the latest change made through this store: a watcher of the keys
        it changed that has seen this revision has seen every change of this store. (A call
        that changed nothing does not count: its answer's revision may be another client's
        change, of keys such a watcher does not follow.)"""
        self._retry_policy = retry_policy or RetrySettings()
        self._client = Etcd3Client(self.endpoints, rpc_max_attempts=1)
        _extend_channel_options(self._client, self._retry_policy)

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        await self._client.connect()

    async def close(self) -> None:
        await self._client.close()

    @property
    def _kv_service(self) -> KVService:
        if self._client.kv is None:
            raise RuntimeError("EtcdStore is not connected")
        return self._client.kv

    async def _call(
        self, what: str, factory: Callable[[], Awaitable[R]], *, at_most_once: bool = False
    ) -> R:
        policy = _ONCE if at_most_once else self._retry_policy
        try:
            return await retry.call(policy, _RETRYABLE, factory)
        except _RETRYABLE as exc:
            raise EtcdUnavailable(f"etcd {what} failed: {exc}") from exc
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT and "too many operations" in (
                exc.details() or ""
            ):
                raise TooManyOps(exc.details()) from exc
            raise

    # ---------------------------------------------------------------- reads

    async def get(self, key: str) -> KeyValue | None:
        response = await self._call(
            "get", lambda: self._kv_service.get(key, timeout=self.timeout_s)
        )
        kvs = response.kvs
        return key_value(kvs[0]) if kvs else None

    async def get_many(self, keys: Sequence[str]) -> dict[str, KeyValue]:
        """Several keys read in one round trip per max_txn_ops keys, at one revision each."""
        found: dict[str, KeyValue] = {}
        for start in range(0, len(keys), self.max_txn_ops):
            response = await self._call(
                "get many", partial(self._read_txn, keys[start : start + self.max_txn_ops])
            )
            for op_response in response.responses:
                for raw in op_response.response_range.kvs:
                    kv = key_value(raw)
                    found[kv.key] = kv
        return found

    async def _read_txn(self, keys: Sequence[str]) -> Any:
        reads = [KVService.txn_op_get(key) for key in keys]
        return await self._kv_service.txn([], reads, timeout=self.timeout_s)

    async def range(self, prefix: str, *, revision: int = 0, end: str | None = None) -> RangeResult:
        """Every key under `prefix` (or from `prefix` up to, not including, `end`), in key
        order, at one revision: in pages of at most RANGE_PAGE keys, each read at the first
        one's revision (etcd builds a whole response in memory, and a federation's records
        run to megabytes: 12.6 MB after one run of tools/bench/placement)."""
        range_end = end.encode() if end is not None else prefix_range_end(prefix)
        start = prefix.encode()
        kvs: list[KeyValue] = []
        header_revision = 0
        while True:
            response = await self._range_page(start, range_end, revision)
            if not header_revision:
                header_revision = response.header.revision
                revision = revision or header_revision
            kvs += [key_value(raw) for raw in response.kvs]
            if not response.more:
                return RangeResult(kvs, header_revision)
            start = response.kvs[-1].key + b"\0"

    async def _range_page(self, start: bytes, end: bytes, revision: int) -> Any:
        return await self._call(
            "range",
            lambda: self._kv_service.get(
                start,
                range_end=end,
                revision=revision,
                limit=RANGE_PAGE,
                sort_order=SortOrder.ASCEND,
                sort_target=SortTarget.KEY,
                timeout=self.timeout_s,
            ),
        )

    async def revision(self) -> int:
        response = await self._call(
            "revision",
            lambda: self._kv_service.get("\0", count_only=True, timeout=self.timeout_s),
        )
        return int(response.header.revision)

    # --------------------------------------------------------------- writes

    async def put(self, key: str, value: bytes, *, lease: int = 0) -> int:
        response = await self._call(
            "put", lambda: self._kv_service.put(key, value, lease=lease, timeout=self.timeout_s)
        )
        return self._written(int(response.header.revision))

    async def delete(self, key: str, *, prefix: bool = False) -> int:
        """Delete a key (or every key under a prefix); returns how many were deleted."""
        range_end = prefix_range_end(key) if prefix else None
        response = await self._call(
            "delete",
            lambda: self._kv_service.delete(key, range_end=range_end, timeout=self.timeout_s),
        )
        if response.deleted:
            self._written(int(response.header.revision))
        return int(response.deleted)

    async def txn(
        self,
        compares: Sequence[Compare],
        success: Sequence[Op],
        failure: Sequence[Op] = (),
        *,
        at_most_once: bool = False,
    ) -> TxnResult:
        """One transaction. A transport failure is retried by the store's policy, unless
        `at_most_once`: then it raises EtcdUnavailable at once, and the transaction may or
        may not have been applied (a retry that finds its own writes would read as a failed
        compare)."""
        if max(len(compares), len(success), len(failure)) > self.max_txn_ops:
            raise TooManyOps(f"a transaction may hold at most {self.max_txn_ops} operations")
        request = _txn_request(compares, success, failure)
        started = time.perf_counter()
        response = await self._call(
            "txn", lambda: self._send_txn(request), at_most_once=at_most_once
        )
        _PLAIN_TXN_SECONDS.observe(time.perf_counter() - started)
        revision = int(response.header.revision)
        if success if response.succeeded else failure:
            self._written(revision)
        return TxnResult(bool(response.succeeded), revision)

    async def _send_txn(self, request: TxnRequest) -> Any:
        """KVService.txn without its wrapper (an asyncio timeout around the call's own gRPC
        deadline, a retry loop set to one attempt): the leader commits every batch through
        here. Errors map to etcd3aio's exceptions as its wrapper maps them."""
        kv = self._kv_service
        try:
            return await kv._stub.Txn(
                request, metadata=kv._metadata or None, timeout=self.timeout_s
            )
        except grpc.aio.AioRpcError as exc:
            kv._raise_rpc_exception(exc, "KV.Txn", attempts=1)

    def _written(self, revision: int) -> int:
        self.written_revision = max(self.written_revision, revision)
        return revision

    async def fenced_txn(
        self,
        fence: Fence,
        ops: Sequence[Op],
        compares: Sequence[Compare] = (),
        *,
        at_most_once: bool = False,
    ) -> TxnResult:
        """Apply `ops` only while `fence` holds (and `compares`, if any).

        Raises FencedOut when the fence failed: the caller has lost leadership. A failure of
        the other compares alone returns `succeeded=False`. `at_most_once` as for `txn`.
        """
        fence_compare = Compare(fence.key, "create", "==", fence.epoch)
        started = time.perf_counter()
        result = await self.txn([fence_compare, *compares], ops, at_most_once=at_most_once)
        _FENCED_TXN_SECONDS.observe(time.perf_counter() - started)
        if result.succeeded:
            return result
        if not compares or await self._fence_lost(fence):
            metrics.ETCD_FENCE_REJECTIONS.inc()
            raise FencedOut(f"epoch {fence.epoch} of {fence.key} is no longer current")
        return result

    def chunks(self, ops: Sequence[Op]) -> Iterator[list[Op]]:
        """Ops in chunks that fit one fenced transaction each (see grouped_chunks); each
        chunk is atomic on its own."""
        return self.grouped_chunks((op,) for op in ops)

    def grouped_chunks(
        self, groups: Iterable[Sequence[Op]], reserved_bytes: int = 0
    ) -> Iterator[list[Op]]:
        """Groups of ops in chunks of at most max_txn_ops - 1 ops (a fence takes a slot) and
        max_txn_bytes (op_bytes), never splitting a group: a request's ops commit together.
        The first chunk leaves `reserved_bytes` for its compares. No chunk is empty."""
        most = max(1, self.max_txn_ops - 1)
        chunk: list[Op] = []
        size = reserved_bytes
        for group in groups:
            added = sum(op_bytes(op) for op in group)
            if chunk and (len(chunk) + len(group) > most or size + added > self.max_txn_bytes):
                yield chunk
                chunk, size = [], 0
            chunk.extend(group)
            size += added
        if chunk:
            yield chunk

    async def _fence_lost(self, fence: Fence) -> bool:
        current = await self.get(fence.key)
        return current is None or current.create_revision != fence.epoch

    async def compact(self, revision: int) -> bool:
        """Drop the history before `revision`; False when it had been compacted that far
        already (by etcd's own --auto-compaction, or an earlier leader)."""
        try:
            await self._call(
                "compact",
                lambda: self._kv_service.compact(revision, physical=True, timeout=self.timeout_s),
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.OUT_OF_RANGE and "compacted" in (exc.details() or ""):
                return False
            raise
        return True

    # --------------------------------------------------------------- leases

    async def grant_lease(self, ttl_s: int, *, keepalive: bool = True) -> Lease:
        """Grant a lease and (unless told otherwise) keep it alive in the background."""
        if self._client.lease is None:
            raise RuntimeError("EtcdStore is not connected")
        lease_service = self._client.lease
        sent_at = time.monotonic()
        response = await self._call(
            "lease grant", lambda: lease_service.grant(ttl_s, timeout=self.timeout_s)
        )
        lease = Lease(self, int(response.ID), int(response.TTL), sent_at)
        if keepalive:
            lease.start_keepalive()
        return lease

    async def keepalive_once(self, lease_id: int, *, timeout_s: float) -> int:
        """Send one keepalive; returns the TTL the server reports (<= 0: the lease is gone)."""
        if self._client.lease is None:
            raise RuntimeError("EtcdStore is not connected")
        stream = self._client.lease.keep_alive(lease_id)
        try:
            async with asyncio.timeout(timeout_s):
                async for response in stream:
                    return int(response.TTL)
        except (TimeoutError, grpc.aio.AioRpcError) as exc:
            raise EtcdUnavailable(f"keepalive of lease {lease_id:x} failed: {exc}") from exc
        finally:
            stream.cancel()
        raise EtcdUnavailable(f"keepalive of lease {lease_id:x}: stream closed without answer")

    async def revoke_lease(self, lease_id: int) -> None:
        if self._client.lease is None:
            raise RuntimeError("EtcdStore is not connected")
        lease_service = self._client.lease
        with contextlib.suppress(grpc.aio.AioRpcError):
            await self._call(
                "lease revoke", lambda: lease_service.revoke(lease_id, timeout=self.timeout_s)
            )

    # ---------------------------------------------------------------- watch

    async def watch_prefix(
        self,
        prefix: str,
        *,
        start_revision: int | None = None,
        ignore: tuple[str, ...] = (),
        end: str | None = None,
    ) -> AsyncGenerator[WatchBatch, None]:
        """Changes under `prefix` (or from `prefix` up to, not including, `end`) from
        `start_revision`, never skipping one.

        Without `start_revision` it lists first (a resynced batch), then follows. After a
        disconnect it resumes right after the last event it delivered; if that revision has
        been compacted meanwhile it re-lists and delivers a resynced batch. Events of keys
        under an `ignore` prefix are dropped before they are decoded (their batch still
        advances the revision).
        """
        if start_revision is None:
            listed = await self.range(prefix, end=end)
            yield WatchBatch(listed.revision, resynced=True, snapshot=listed.kvs)
            start_revision = listed.revision + 1
        next_revision = start_revision
        backoff = retry.Backoff(self._retry_policy)
        while True:
            outcome = await self._follow(prefix, end, next_revision, ignore)
            async for batch in outcome.batches():
                backoff.reset()
                yield batch
            if outcome.disconnected:
                await backoff.wait()
            if outcome.compacted:
                metrics.ETCD_WATCH_RESYNCS.labels(prefix).inc()
                _log.warning("watch hit compaction, re-listing", extra={"prefix": prefix})
                listed = await self.range(prefix, end=end)
                yield WatchBatch(listed.revision, resynced=True, snapshot=listed.kvs)
                next_revision = listed.revision + 1
            else:
                next_revision = outcome.next_revision

    async def _follow(
        self, prefix: str, end: str | None, start_revision: int, ignore: tuple[str, ...]
    ) -> _WatchRun:
        if self._client.watch is None:
            raise RuntimeError("EtcdStore is not connected")
        return _WatchRun(self._client.watch, prefix, end, start_revision, ignore)


class _WatchRun:
    """One etcd watch stream, from a revision until it ends, reconnects or hits compaction.

    etcd3aio reconnects internally from the last header revision, which may lie beyond the
    events delivered (etcd sends catch-up batches with the current revision in the header).
    A second `created` response reveals such a reconnect: the run then ends and the caller
    resumes from the run's own `next_revision`.
    """

    def __init__(
        self,
        watch_service: Any,
        prefix: str,
        end: str | None,
        start_revision: int,
        ignore: tuple[str, ...] = (),
    ) -> None:
        self._watch_service = watch_service
        self._prefix = prefix
        self._end = end.encode() if end is not None else prefix_range_end(prefix)
        self._ignore = tuple(item.encode() for item in ignore)
        self.next_revision = start_revision
        self.compacted = False
        self.disconnected = False

    async def batches(self) -> AsyncIterator[WatchBatch]:
        stream = self._watch_service.watch(
            self._prefix,
            range_end=self._end,
            start_revision=self.next_revision,
        )
        created_seen = False
        try:
            async for response in self._responses(stream):
                if response.compact_revision > 0:
                    self.compacted = True
                    return
                if response.created:
                    if created_seen:
                        self.disconnected = True
                        return
                    created_seen = True
                if response.canceled:
                    return
                if not response.events:
                    continue
                events = watch_events(response.events, self._ignore)
                revision = int(response.events[-1].kv.mod_revision)
                self.next_revision = revision + 1
                yield WatchBatch(revision, events)
        finally:
            await stream.aclose()

    async def _responses(self, stream: AsyncGenerator[Any, None]) -> AsyncIterator[Any]:
        """The stream's responses; a failed stream ends them and marks a disconnect."""
        try:
            async for response in stream:
                yield response
        except (grpc.aio.AioRpcError, *_RETRYABLE) as exc:
            _log.warning("watch stream broke, resuming", extra={"err": str(exc)[:200]})
            self.disconnected = True
