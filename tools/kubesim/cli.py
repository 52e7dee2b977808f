"""Command line: serve a fleet (`python -m tools.kubesim --clusters N --nodes M --out DIR`),
inject faults (`python -m tools.kubesim fault --dir DIR --cluster c2 latency 200ms`) and
show the fleet (`python -m tools.kubesim status --dir DIR`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path

from common.gc_tuning import THROUGHPUT, tune_gc
from tools.kubesim.config import SimConfig
from tools.kubesim.control import admin_call
from tools.kubesim.faults import FAULTS
from tools.kubesim.sim import KubeSim

PR_SET_PDEATHSIG = 1
log = logging.getLogger("kubesim")


def serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.kubesim", description=__doc__)
    parser.add_argument("--clusters", type=int, default=1)
    parser.add_argument("--nodes", type=int, default=3, help="nodes per cluster")
    parser.add_argument("--node-cpu", default="32")
    parser.add_argument("--node-memory", default="128Gi")
    parser.add_argument("--node-pods", type=int, default=110)
    parser.add_argument("--regions", default="r1,r2,r3", help="comma-separated region names")
    parser.add_argument("--zones-per-region", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("var/kubesim"))
    parser.add_argument("--kubelet-delay", type=float, default=0.5, help="seconds to Running")
    parser.add_argument("--termination-delay", type=float, default=0.5)
    parser.add_argument("--bookmark-interval", type=float, default=60.0)
    parser.add_argument("--history-size", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--die-with-parent",
        type=int,
        default=0,
        metavar="PID",
        help="exit when process PID (our parent) exits",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser


def config_from(args: argparse.Namespace) -> SimConfig:
    return SimConfig(
        clusters=args.clusters,
        nodes=args.nodes,
        node_cpu=args.node_cpu,
        node_memory=args.node_memory,
        node_pods=args.node_pods,
        regions=tuple(r.strip() for r in args.regions.split(",") if r.strip()),
        zones_per_region=args.zones_per_region,
        kubelet_delay=args.kubelet_delay,
        termination_delay=args.termination_delay,
        bookmark_interval=args.bookmark_interval,
        history_size=args.history_size,
        seed=args.seed,
    )


def die_with_parent(parent: int) -> None:
    """Ask Linux to SIGTERM us when our parent exits; exit now if it already has."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        sys.exit(1)


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with KubeSim(config_from(args), args.out) as sim:
        tune_gc(THROUGHPUT)
        for info in sim.describe():
            log.info(
                "cluster %s %s (%s/%s, %d nodes)",
                info["name"],
                info["url"],
                info["region"],
                info["zone"],
                info["nodes"],
            )
        ready = {
            "ready": True,
            "clusters_json": str((args.out / "clusters.json").resolve()),
            "admin_url": sim.admin.url,
        }
        print(json.dumps(ready), flush=True)
        await stop.wait()
        log.info("stopping")


def fault_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.kubesim fault")
    parser.add_argument("--dir", type=Path, required=True, help="the --out of the running fleet")
    parser.add_argument("--cluster", required=True)
    parser.add_argument("fault", choices=FAULTS)
    parser.add_argument("arg", nargs="?", help="e.g. 200ms for latency, 30%% for nodes-notready")
    return parser


def admin_request(directory: Path, path: str, body: dict[str, object] | None = None) -> object:
    try:
        return admin_call(directory, path, body)
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"kubesim: {json.loads(exc.read()).get('error', exc)}") from exc


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["fault"]:
        args = fault_parser().parse_args(argv[1:])
        body = {"fault": args.fault, "arg": args.arg}
        print(json.dumps(admin_request(args.dir, f"/clusters/{args.cluster}/faults", body)))
        return 0
    if argv[:1] == ["status"]:
        status = argparse.ArgumentParser(prog="python -m tools.kubesim status")
        status.add_argument("--dir", type=Path, required=True)
        print(json.dumps(admin_request(status.parse_args(argv[1:]).dir, "/clusters"), indent=2))
        return 0
    args = serve_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if args.die_with_parent:
        die_with_parent(args.die_with_parent)
    asyncio.run(serve(args))
    return 0
