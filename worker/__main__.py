"""fed-worker: serve the clusters the leader assigns, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence

from common import event_loop
from common.logs import configure_logging
from common.service_cli import parse_service_args, service_settings
from common.settings import SettingsError
from worker.app import serve
from worker.settings import WorkerSettings


async def run(settings: WorkerSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(settings, stop)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_service_args("fed-worker", __doc__, argv)
    try:
        settings = service_settings(WorkerSettings, "worker", args)
    except SettingsError as exc:
        print(f"fed-worker: {exc}", file=sys.stderr)
        sys.exit(1)
    observability = settings.observability
    configure_logging("worker", level=observability.log_level, fmt=observability.log_format)
    try:
        event_loop.run(run(settings))
    except ValueError as exc:
        print(f"fed-worker: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
