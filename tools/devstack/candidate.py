"""A leader-election candidate process, for the demo and for fault tests.

It campaigns, reports every change as one JSON line on stdout, and answers commands on
stdin: `write` attempts a fenced write with the epoch of its last leadership (even after
it stepped down, so that a test sees etcd itself reject a stale epoch), `state` reports
whether it believes it leads. After losing leadership it campaigns again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from common.election import Election, Leadership
from common.etcd_store import EtcdStore, Fence, FencedOut, Put
from common.keys import Keys
from common.settings import ElectionSettings


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, "t": time.monotonic(), **fields}), flush=True)


class Candidate:
    def __init__(self, store: EtcdStore, keys: Keys, settings: ElectionSettings, name: str):
        self.name = name
        self.keys = keys
        self.store = store
        self.election = Election(store, keys, settings, value=name.encode())
        self.leadership: Leadership | None = None
        self.last_fence: Fence | None = None

    async def run(self) -> None:
        while True:
            emit("campaigning", name=self.name)
            self.leadership = await self.election.campaign()
            self.last_fence = self.leadership.fence
            emit("leader", name=self.name, epoch=self.leadership.epoch)
            reason = await self.leadership.wait_lost()
            emit("follower", name=self.name, reason=reason)

    async def write(self) -> None:
        if self.last_fence is None:
            emit("write", result="no-epoch")
            return
        try:
            await self.store.fenced_txn(
                self.last_fence, [Put(f"{self.keys.prefix}/demo/{self.name}", b"x")]
            )
            emit("write", result="ok", epoch=self.last_fence.epoch)
        except FencedOut:
            emit("write", result="rejected", epoch=self.last_fence.epoch)

    def state(self) -> None:
        leading = self.leadership is not None and self.leadership.is_leader
        emit("state", leader=leading)


async def serve_commands(candidate: Candidate) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        if line == "write":
            await candidate.write()
        elif line == "state":
            candidate.state()
        else:
            emit("error", message=f"unknown command {line!r}")


async def main_async(args: argparse.Namespace) -> None:
    settings = ElectionSettings(ttl_s=args.ttl, safety_margin_s=args.margin)
    async with EtcdStore(args.etcd.split(","), timeout_s=2.0) as store:
        candidate = Candidate(store, Keys(args.prefix), settings, args.name)
        campaign = asyncio.create_task(candidate.run())
        await serve_commands(candidate)
        campaign.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--etcd", required=True, help="comma-separated host:port endpoints")
    parser.add_argument("--prefix", default="/fed")
    parser.add_argument("--name", required=True)
    parser.add_argument("--ttl", type=int, default=3)
    parser.add_argument("--margin", type=float, default=1.0)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
