"""A follower's writes, forwarded to the leader in ForwardWrites batches.

Every write runs on the leader. Forwarded one by one, each would cost the leader a unary
RPC of its own (~200 us of its CPU, a third of a placement), on the one process that cannot
scale out. Here the writes that arrive while the previous batch is on the wire go out
together in the next one (proxy.scheduler.batcher, with no window of its own: a lone write
goes at once), so under load the leader pays one RPC for many. One batch per leader address
is on the wire at a time; a new leader gets batches of its own.

Each write keeps its own outcome: a refused write raises ApiError with the code and details
the leader gave it; a batch that failed as a whole fails each of its writes with its error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import grpc
from google.protobuf.message import Message

from common.status_codes import code_of
from fed.v1 import replica_pb2, replica_pb2_grpc
from proxy import metrics
from proxy.errors import ApiError
from proxy.message_size import MESSAGE_BYTES
from proxy.scheduler.batcher import Batcher, Pending, settle

MAX_WRITES = 256
"""Writes per ForwardWrites call (the leader takes up to 1,000)."""

IDLE_S = 60.0
"""A leader address's batcher ends after this long without a write (leaders change)."""


@dataclass(frozen=True)
class Answer:
    """The leader's answer to one write: the response, serialized, and the revision its
    batch's answers carry."""

    response: bytes
    revision: int


class WriteForwarder:
    def __init__(
        self,
        stub_of: Callable[[str], replica_pb2_grpc.ReplicaAsyncStub],
        follower: str,
        *,
        timeout_s: float,
        idle_s: float = IDLE_S,
    ) -> None:
        """`stub_of(address)`: the Replica stub of the replica at that address."""
        self._stub_of = stub_of
        self._follower = follower
        self._timeout_s = timeout_s
        self._idle_s = idle_s
        self._batchers: dict[str, Batcher[replica_pb2.ForwardedWrite, Answer]] = {}

    async def forward(self, address: str, method: str, request: Message) -> Answer:
        """The leader's answer; raises ApiError when it refused the write, and
        grpc.aio.AioRpcError when the batch did not reach it or it failed the batch."""
        batcher = self._batchers.get(address)
        if batcher is None:

            async def send(batch: list[Pending[replica_pb2.ForwardedWrite, Answer]]) -> None:
                await self._send(address, batch)

            batcher = Batcher(
                send,
                window_s=0.0,
                max_size=MAX_WRITES,
                idle_s=self._idle_s,
                on_idle=lambda: self._batchers.pop(address, None),
                bytes_of=(_write_bytes, MESSAGE_BYTES),
            )
            batcher.start()
            self._batchers[address] = batcher
        write = replica_pb2.ForwardedWrite(method=method, request=request.SerializeToString())
        return await batcher.submit(write)

    async def _send(
        self, address: str, batch: list[Pending[replica_pb2.ForwardedWrite, Answer]]
    ) -> None:
        stub = self._stub_of(address)
        metrics.FORWARD_BATCH_SIZE.observe(len(batch))
        request = replica_pb2.ForwardWritesRequest(
            follower=self._follower, writes=[pending.item for pending in batch]
        )
        response = await stub.ForwardWrites(request, timeout=self._timeout_s)
        if len(response.answers) != len(batch):
            raise ApiError(
                grpc.StatusCode.INTERNAL,
                f"the leader answered {len(response.answers)} of {len(batch)} writes",
            )
        revision = response.revision
        settle(batch, [_outcome(answer, revision) for answer in response.answers])

    async def close(self) -> None:
        batchers, self._batchers = list(self._batchers.values()), {}
        for batcher in batchers:
            await batcher.stop(ApiError(grpc.StatusCode.UNAVAILABLE, "the proxy is stopping"))


def _outcome(answer: replica_pb2.ForwardedAnswer, revision: int) -> Answer | ApiError:
    code = code_of(answer.code)
    if code != grpc.StatusCode.OK:
        return ApiError(code, answer.message)
    return Answer(answer.response, revision)


def _write_bytes(write: replica_pb2.ForwardedWrite) -> int:
    """A write's share of a ForwardWritesRequest."""
    return write.ByteSize() + 8
