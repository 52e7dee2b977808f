"""Fenced-transaction throughput against a real etcd at batch sizes 1, 10 and 100.

Each operation writes one Reservation record (the proxy's commonest write). For each batch
size it runs transactions one at a time (latency) and with `--concurrency` in flight
(throughput), for `--seconds` each. Starts its own embedded etcd unless `--etcd` is given.
The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import Iterator

from common.election import Election, Leadership
from common.etcd_launcher import EmbeddedEtcd
from common.etcd_store import EtcdStore, Put
from common.keys import Keys
from common.settings import ElectionSettings
from fed.v1 import types_pb2

BATCH_SIZES = (1, 10, 100)


def reservation_ops(keys: Keys, batch: int, serial: int) -> list[Put]:
    ops = []
    for i in range(batch):
        record = types_pb2.Reservation(
            id=f"r-{serial}-{i}",
            cluster=f"c{i % 50}",
            workload=f"bench/w{serial}",
            replicas=3,
            per_replica=types_pb2.Resources(cpu_millis=500, memory_bytes=512 << 20),
            epoch=1,
        )
        ops.append(Put(keys.reservation(record.cluster, record.id), record.SerializeToString()))
    return ops


async def run_for(
    leadership: Leadership, keys: Keys, batch: int, seconds: float, concurrency: int
) -> dict[str, float]:
    latencies: list[float] = []
    serial = iter(range(10**9))
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            ops = reservation_ops(keys, batch, next(serial))
            started = time.perf_counter()
            await leadership.txn(ops)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "txn_per_s": round(len(latencies) / elapsed, 1),
        "ops_per_s": round(len(latencies) * batch / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
    }


@contextlib.contextmanager
def etcd_endpoint(given: str | None) -> Iterator[str]:
    if given:
        yield given
        return
    with EmbeddedEtcd.create(max_txn_ops=256) as etcd:
        yield etcd.endpoint


async def bench(endpoint: str, seconds: float, concurrency: int) -> dict[str, object]:
    keys = Keys("/bench")
    results: dict[str, object] = {"seconds_per_run": seconds, "concurrency": concurrency}
    async with EtcdStore([endpoint], max_txn_ops=256) as store:
        election = Election(store, keys, ElectionSettings(ttl_s=5), value=b"bench")
        leadership = await election.campaign()
        for batch in BATCH_SIZES:
            for mode, inflight in (("serial", 1), ("concurrent", concurrency)):
                figures = await run_for(leadership, keys, batch, seconds, inflight)
                results[f"batch{batch}_{mode}"] = figures
                print(f"batch {batch:>3} {mode:>10}: " + ", ".join(
                    f"{k} {v}" for k, v in figures.items()), flush=True)  # fmt: skip
                await store.delete(keys.reservations_prefix(), prefix=True)
        await leadership.resign()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--etcd", help="host:port of an etcd to use instead of an embedded one")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with etcd_endpoint(args.etcd) as endpoint:
        results = asyncio.run(bench(endpoint, args.seconds, args.concurrency))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
