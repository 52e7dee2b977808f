"""fed-worker: serve the clusters the leader assigns, until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from common.logs import configure_logging
from common.settings import SettingsError, load_settings
from worker.app import serve
from worker.settings import WorkerSettings


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fed-worker", description=__doc__)
    parser.add_argument("--etcd", help="etcd endpoints, comma separated (host:port,...)")
    parser.add_argument("--listen", help="gRPC address, host:port (port 0: a free one)")
    parser.add_argument("--id", help="worker id (default: worker-<host>-<pid>)")
    parser.add_argument("--config", help="YAML settings file")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.FIELD=VALUE", help="override"
    )
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> WorkerSettings:
    overrides = list(args.set)
    if args.etcd:
        overrides.append(f"etcd.endpoints={args.etcd}")
    if args.listen:
        overrides.append(f"worker.listen={args.listen}")
    if args.id:
        overrides.append(f"worker.id={args.id}")
    return load_settings(WorkerSettings, path=args.config, overrides=overrides)


async def run(settings: WorkerSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(settings, stop)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        settings = settings_from(args)
    except SettingsError as exc:
        print(f"fed-worker: {exc}", file=sys.stderr)
        sys.exit(2)
    observability = settings.observability
    configure_logging("worker", level=observability.log_level, fmt=observability.log_format)
    try:
        asyncio.run(run(settings))
    except ValueError as exc:
        print(f"fed-worker: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
