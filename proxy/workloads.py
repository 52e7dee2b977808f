"""The leader's single writer of workload records, reservations and request answers.

Every write to a workload goes through one batched pipeline: requests that arrive within
the batching window are merged (the engine filters and scores once per equivalence class),
decided against the in-memory ledger one after another, and committed in fenced etcd
transactions. A request's reservations, its workload record and its request answer always
share one transaction, so an acknowledged answer never outlives a lost effect. Binder
phase reports take the same path, so no update of a record is ever lost to another.

A commit is sent at most once. When it fails without an answer (the connection broke, the
deadline passed) it may still have been applied, so the writer forgets what it planned and
re-reads the records and the ledger from etcd before it plans again; the round's calls are
then answered from the request log if they took effect and planned afresh if not. (Retrying
the same transaction instead would find its own request keys and read as a repeat, and the
in-memory ledger would miss reservations etcd holds.)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf.message import Message

from common.election import Leadership
from common.etcd_store import Compare, EtcdUnavailable, Op, op_bytes
from common.keys import Keys
from fed.v1 import types_pb2
from proxy import metrics
from proxy.errors import ApiError
from proxy.known_records import KnownRecords
from proxy.ledger import Ledger
from proxy.requests import RequestIdReused, RequestLog
from proxy.scheduler.batcher import Batcher, Pending
from proxy.scheduler.engine import Engine
from proxy.scheduler.model import Snapshot
from proxy.write_round import (
    Prepared,
    RoundPlanner,
    WriteItem,
    admit,
    requests_absent,
    response_type,
    rounds,
    spec_limit,
)

_log = logging.getLogger(__name__)


@dataclass
class Records:
    """What the writer keeps in memory: the workload records and the ledger."""

    ledger: Ledger
    workloads: dict[tuple[str, str], types_pb2.Workload]


class WorkloadWriter:
    """Runs on the leader only; built when leadership starts, stopped when it ends."""

    def __init__(
        self,
        leadership: Leadership,
        keys: Keys,
        engine: Engine,
        records: Records,
        reload: Callable[[], Awaitable[Records]],
        requests: RequestLog,
        snapshot: Callable[[], Snapshot],
        on_commit: Callable[[types_pb2.Workload], None],
        known: KnownRecords,
        written: Callable[[int, Sequence[Op]], None],
        *,
        window_s: float,
        max_batch: int,
    ) -> None:
        self._leadership = leadership
        self._keys = keys
        self.ledger = records.ledger
        self.workloads = records.workloads
        self._reload = reload
        self._uncertain = False
        """A commit failed without an answer: memory may disagree with etcd until reloaded."""
        self._requests = requests
        self._on_commit = on_commit
        self._known = known
        self._written = written
        """Told of every committed transaction (revision, ops) before any answer."""
        self._planner = RoundPlanner(
            keys,
            engine,
            self.ledger,
            self.workloads,
            requests,
            snapshot,
            known,
            spec_limit(leadership.max_bytes),
        )
        self._batcher: Batcher[WriteItem, Message] = Batcher(
            self._process, window_s=window_s, max_size=max_batch
        )

    def start(self) -> None:
        self._batcher.start()

    async def stop(self) -> None:
        await self._batcher.stop(ApiError(grpc.StatusCode.UNAVAILABLE, "leadership lost"))

    async def submit(self, item: WriteItem, *, at_once: bool = False) -> Message:
        """The write's answer, after its round commits; `at_once` as in Batcher.submit."""
        return await self._batcher.submit(item, at_once=at_once)

    # ----------------------------------------------------------------- batch

    async def _process(self, batch: list[Pending[WriteItem, Message]]) -> None:
        metrics.BATCH_SIZE.observe(len(batch))
        for round_ in rounds(batch):
            await self._process_round(round_)
        metrics.RESERVATIONS.set(len(self.ledger))

    async def _process_round(self, batch: list[Pending[WriteItem, Message]]) -> None:
        """Schedule and commit one round. Request ids are checked optimistically: the commit
        compares every call's request key to absent, so a round of new calls costs no read;
        when a key exists (a retry), the round is undone, the recorded answers are read and
        the rest runs again. A round with more calls than a txn can compare reads first.
        After a commit whose outcome is unknown, memory is reloaded before anything else."""
        await self._reload_if_uncertain()
        await self._requests.refresh_lease()
        prepared = admit(batch)
        calls = sum(1 for item in prepared if item.call is not None)
        if calls <= self._leadership.max_ops and await self._try_round(prepared, verify_new=True):
            return
        await self._reload_if_uncertain()
        remaining = await self._answer_repeats(prepared)
        if not await self._try_round(remaining, verify_new=False):
            _fail(remaining, "the commit's outcome is unknown; retry with the same request_id")

    async def _try_round(self, prepared: list[Prepared], *, verify_new: bool) -> bool:
        """Schedule and commit; False (and nothing changed in memory) when a call turned out
        to be a repeat or the commit's outcome is unknown. Answers are given only after the
        commit."""
        self._planner.plan(prepared, self._leadership.epoch)
        compares = requests_absent(self._keys, prepared) if verify_new else []
        try:
            committed = await self._commit(prepared, compares)
        except EtcdUnavailable as exc:
            _log.warning("commit outcome unknown; reloading records", extra={"err": str(exc)})
            self._planner.undo()
            self._known.clear()
            self._uncertain = True
            return False
        except BaseException as exc:
            self._planner.undo()
            self._known.clear()
            _fail(prepared, f"not committed: {exc}")
            raise
        if not committed:
            self._planner.undo()
            self._known.clear()
            return False
        self._planner.keep()
        for item in prepared:
            self._answer(item)
        return True

    def _answer(self, item: Prepared) -> None:
        if item.workload is not None:
            self._on_commit(item.workload)
        if item.pending.future.done():
            return
        if item.error is not None:
            item.pending.future.set_exception(item.error)
        elif item.response is not None:
            item.pending.future.set_result(item.response)

    async def _reload_if_uncertain(self) -> None:
        """The records and the ledger as etcd holds them, after a commit whose outcome is
        unknown. A new ledger object, so no capacity or class cached against the old one is
        used again. A record the lost commit did write is handed on as any commit's is (to
        the binder): its answer comes from the request log, which hands on nothing."""
        if not self._uncertain:
            return
        try:
            records = await self._reload()
        except (EtcdUnavailable, TimeoutError) as exc:
            raise ApiError(
                grpc.StatusCode.UNAVAILABLE,
                f"the leader is reloading its records after a commit without an answer: {exc}",
            ) from exc
        before = {key: workload.generation for key, workload in self.workloads.items()}
        self.ledger = self._planner.ledger = records.ledger
        self.workloads.clear()
        self.workloads.update(records.workloads)
        self._known.clear()
        self._uncertain = False
        _log.warning("records reloaded", extra={"reservations": len(self.ledger)})
        for key, workload in self.workloads.items():
            if before.get(key) != workload.generation:
                self._on_commit(workload)

    async def _answer_repeats(self, prepared: list[Prepared]) -> list[Prepared]:
        """Answer repeated calls from the request log (one read); the other writes, afresh."""
        calls = [item.call for item in prepared if item.call is not None]
        answers = iter(await self._requests.answers(calls))
        remaining: list[Prepared] = []
        for item in prepared:
            answer = next(answers) if item.call is not None else None
            future = item.pending.future
            if isinstance(answer, RequestIdReused):
                future.set_exception(ApiError(grpc.StatusCode.ALREADY_EXISTS, str(answer)))
            elif answer is not None and item.call is not None:
                future.set_result(response_type(item.call.method)().FromString(answer))
            else:
                remaining.append(Prepared(item.pending, item.call))
        return remaining

    async def _commit(self, prepared: list[Prepared], compares: Sequence[Compare]) -> bool:
        """Fenced transactions, never splitting one request's ops across two of them
        (Leadership.chunks). The first carries `compares`; False (nothing written) when one
        of them failed."""
        first = True
        reserved = sum(op_bytes(compare) for compare in compares)
        for chunk in self._leadership.chunks((item.ops for item in prepared), reserved):
            if not await self._commit_chunk(chunk, compares if first else ()):
                return False
            first = False
        if first and compares:
            return await self._commit_chunk([], compares)
        return True

    async def _commit_chunk(self, ops: list[Op], compares: Sequence[Compare]) -> bool:
        result = await self._leadership.txn(ops, compares, at_most_once=True)
        if result.succeeded:
            self._written(result.revision, ops)
        return result.succeeded


def _fail(prepared: Sequence[Prepared], message: str) -> None:
    """UNAVAILABLE for every call of the round not answered yet."""
    error = ApiError(grpc.StatusCode.UNAVAILABLE, message)
    for item in prepared:
        if not item.pending.future.done():
            item.pending.future.set_exception(error)
