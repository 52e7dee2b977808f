"""The embedded etcd's memory under a sustained write load, by GOGC and snapshot count.

For each combination of `--go-gc-percent` and `--snapshot-count`, one run starts an embedded
etcd and writes `--txns` transactions of `--ops` puts of `--value-bytes` each (about what a
placement batch of ~11 writes), `--concurrency` at a time, over a key space that wraps
around (records are replaced, as workloads are). It then reads etcd's peak RSS, its Go heap
in use, the heap size at which it will next collect, how often it collected, and its
database size. etcd holds every raft entry since its last snapshot in memory, and GOGC lets
its heap grow to (1 + GOGC/100) times what is live. The last line is one JSON object.

    python -m tools.bench.etcd_memory [--txns 40000] [--go-gc-percent 100 400]
                                      [--snapshot-count 100000 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import time

from common.etcd_launcher import EmbeddedEtcd
from common.etcd_store import EtcdStore, Put
from tools.bench.placement import metric_samples
from tools.bench.proc import rss_mib

MIB = 1 << 20
GO_FIGURES = {
    "go_memstats_heap_inuse_bytes": "heap_inuse_mib",
    "go_memstats_next_gc_bytes": "next_gc_heap_mib",
    "etcd_mvcc_db_total_size_in_bytes": "db_mib",
}


async def write_load(endpoint: str, args: argparse.Namespace) -> float:
    """Write the load; the seconds it took."""
    value = os.urandom(args.value_bytes)
    serials = iter(range(args.txns))
    wrap = args.keys // args.ops

    async def writer(store: EtcdStore) -> None:
        for serial in serials:
            ops = [Put(f"/bench/m/{serial % wrap}/{i}", value) for i in range(args.ops)]
            await store.txn([], ops)

    started = time.perf_counter()
    async with EtcdStore([endpoint], max_txn_ops=args.ops) as store:
        await asyncio.gather(*(writer(store) for _ in range(args.concurrency)))
    return time.perf_counter() - started


def etcd_figures(etcd: EmbeddedEtcd) -> dict[str, float]:
    figures: dict[str, float] = {"peak_rss_mib": round(rss_mib(etcd.pid)[1])}
    for _, sample in metric_samples(etcd.endpoint):
        if sample.name in GO_FIGURES:
            figures[GO_FIGURES[sample.name]] = round(sample.value / MIB)
        elif sample.name == "go_gc_duration_seconds_count":
            figures["collections"] = sample.value
    return figures


def run(args: argparse.Namespace, go_gc_percent: int, snapshot_count: int) -> dict[str, float]:
    with EmbeddedEtcd.create(
        max_txn_ops=args.ops, go_gc_percent=go_gc_percent, snapshot_count=snapshot_count
    ) as etcd:
        seconds = asyncio.run(write_load(etcd.endpoint, args))
        return {
            "go_gc_percent": go_gc_percent,
            "snapshot_count": snapshot_count,
            "txn_per_s": round(args.txns / seconds),
        } | etcd_figures(etcd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--txns", type=int, default=40_000)
    parser.add_argument("--ops", type=int, default=35, help="puts per transaction")
    parser.add_argument("--value-bytes", type=int, default=200)
    parser.add_argument("--keys", type=int, default=700_000, help="distinct keys written")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--go-gc-percent", type=int, nargs="+", default=[100, 400])
    parser.add_argument("--snapshot-count", type=int, nargs="+", default=[100_000, 10_000])
    args = parser.parse_args()
    runs = []
    for go_gc_percent, snapshot_count in itertools.product(args.go_gc_percent, args.snapshot_count):
        figures = run(args, go_gc_percent, snapshot_count)
        print(", ".join(f"{name} {value}" for name, value in figures.items()), flush=True)
        runs.append(figures)
    print(json.dumps({"txns": args.txns, "ops": args.ops, "runs": runs}))


if __name__ == "__main__":
    main()
