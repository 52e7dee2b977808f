"""fed-proxy: one replica of the Proxy layer (python -m proxy)."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from common.etcd_launcher import etcd_endpoints
from common.logs import configure_logging
from common.settings import SettingsError, load_settings
from proxy.server import ProxyNode
from proxy.settings import ProxySettings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fed-proxy", description=__doc__)
    parser.add_argument("--etcd", help="comma-separated etcd endpoints (default: embedded etcd)")
    parser.add_argument("--listen", help="host:port of the gRPC server (default 127.0.0.1:0)")
    parser.add_argument("--id", help="this replica's id (default: host name and pid)")
    parser.add_argument("--config", help="settings YAML file")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting"
    )
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> ProxySettings:
    overrides = list(args.set)
    if args.etcd:
        overrides.append(f"etcd.endpoints={args.etcd}")
    if args.listen:
        overrides.append(f"proxy.listen={args.listen}")
    if args.id:
        overrides.append(f"proxy.id={args.id}")
    return load_settings(ProxySettings, path=args.config, overrides=overrides)


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
    args = parse_args(argv)
    try:
        settings = settings_from(args)
    except SettingsError as error:
        print(f"fed-proxy: {error}", file=sys.stderr)
        sys.exit(1)
    observability = settings.observability
    configure_logging("proxy", level=observability.log_level, fmt=observability.log_format)
    with etcd_endpoints(settings.etcd) as endpoints:
        asyncio.run(serve(settings, endpoints))


if __name__ == "__main__":
    main()
