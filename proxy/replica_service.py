"""The Replica service: the leader's side of the writes followers forward in batches.

Each write of a batch runs as the Federation call would have, all of them at once (they
meet in the writer's batching window), and is answered on its own: its response, or the
status code and details the call would have ended with.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

import grpc
from google.protobuf.message import DecodeError, Message

from common.etcd_store import EtcdStore
from common.status_codes import number
from fed.v1 import replica_pb2, replica_pb2_grpc
from proxy.errors import ApiError
from proxy.federation_writes import WRITES

_log = logging.getLogger(__name__)

MAX_WRITES = 1000


class Writes(Protocol):
    async def write_here(self, method: str, request: Message) -> Message: ...


class ReplicaService(replica_pb2_grpc.ReplicaServicer):
    def __init__(self, writes: Writes, store: EtcdStore) -> None:
        self._writes = writes
        self._store = store

    async def ForwardWrites(self, request: Any, context: Any) -> Any:
        if len(request.writes) > MAX_WRITES:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"writes: at most {MAX_WRITES} per call, got {len(request.writes)}",
            )
        answers = await asyncio.gather(*(self._answer(write) for write in request.writes))
        return replica_pb2.ForwardWritesResponse(
            answers=answers, revision=self._store.written_revision
        )

    async def _answer(self, write: replica_pb2.ForwardedWrite) -> replica_pb2.ForwardedAnswer:
        found = WRITES.get(write.method)
        if found is None:
            return _refused(
                grpc.StatusCode.UNIMPLEMENTED,
                f"writes[].method: {write.method!r} is not a Federation write",
            )
        try:
            request = found.request.FromString(write.request)
        except DecodeError as exc:
            return _refused(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"writes[].request: not a {found.request.DESCRIPTOR.name}: {exc}",
            )
        try:
            response = await self._writes.write_here(write.method, request)
        except ApiError as error:
            return _refused(error.code, error.message)
        except Exception as exc:  # one write's bug must not fail the batch's others
            _log.exception("forwarded write failed", extra={"method": write.method})
            return _refused(grpc.StatusCode.INTERNAL, f"{write.method} failed: {exc}")
        return replica_pb2.ForwardedAnswer(response=response.SerializeToString())


def _refused(code: grpc.StatusCode, message: str) -> replica_pb2.ForwardedAnswer:
    return replica_pb2.ForwardedAnswer(code=number(code), message=message)
