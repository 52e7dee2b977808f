"""fed-proxy: one replica of the Proxy layer (python -m proxy)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

from common.etcd_launcher import etcd_endpoints
from common.logs import configure_logging
from common.service_cli import parse_service_args, service_settings
from common.settings import SettingsError
from proxy.server import ProxyNode
from proxy.settings import ProxySettings


async def serve(settings: ProxySettings, endpoints: list[str]) -> None:
    node = ProxyNode(settings, endpoints)
    await node.start()
    print(json.dumps({"event": "ready", "id": node.proxy_id, "address": node.address}), flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    await node.stop()


def main(argv: list[str] | None = None) -> None:
    args = parse_service_args("fed-proxy", __doc__, argv)
    try:
        settings = service_settings(ProxySettings, "proxy", args)
    except SettingsError as error:
        print(f"fed-proxy: {error}", file=sys.stderr)
        sys.exit(1)
    observability = settings.observability
    configure_logging("proxy", level=observability.log_level, fmt=observability.log_format)
    with etcd_endpoints(settings.etcd) as endpoints:
        asyncio.run(serve(settings, endpoints))


if __name__ == "__main__":
    main()
