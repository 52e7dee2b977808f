"""fed-proxy: one replica of the Proxy layer (python -m proxy). SIGHUP reloads its policies."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import Callable

from common import event_loop
from common.etcd_launcher import etcd_endpoints
from common.gc_tuning import LATENCY, freeze_young_survivors, full_collections, tune_gc
from common.logs import configure_logging
from common.loop_lag import watch_loop_lag
from common.service_cli import parse_service_args, service_settings
from common.settings import SettingsError
from proxy.server import ProxyNode
from proxy.settings import ProxySettings

_log = logging.getLogger("proxy")


async def serve(
    settings: ProxySettings, endpoints: list[str], load: Callable[[], ProxySettings]
) -> None:
    node = ProxyNode(settings, endpoints)
    await node.start()
    tune_gc(LATENCY)
    freeze_young_survivors()
    collector = asyncio.create_task(full_collections(settings.proxy.full_gc_s), name="full-gc")
    lag_watch = asyncio.create_task(watch_loop_lag(), name="loop-lag")
    print(json.dumps({"event": "ready", "id": node.proxy_id, "address": node.address}), flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, reload, node, load)
    await stopping.wait()
    collector.cancel()
    lag_watch.cancel()
    await node.stop()


def reload(node: ProxyNode, load: Callable[[], ProxySettings]) -> None:
    """SIGHUP: re-read the settings (file, environment, flags) and take their policies; a bad
    file keeps the policies in force and logs one error. Reported on stdout as well."""
    try:
        policies = node.reload(load())
    except SettingsError as error:
        _log.error("settings reload failed, the policies in force stay", extra={"err": str(error)})
        print(json.dumps({"event": "reload-failed", "error": str(error)}), flush=True)
        return
    _log.info("policies reloaded", extra={"policies": policies})
    print(json.dumps({"event": "reloaded", "policies": policies}), flush=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_service_args("fed-proxy", __doc__, argv)

    def load() -> ProxySettings:
        return service_settings(ProxySettings, "proxy", args)

    try:
        settings = load()
    except SettingsError as error:
        print(f"fed-proxy: {error}", file=sys.stderr)
        sys.exit(1)
    observability = settings.observability
    configure_logging("proxy", level=observability.log_level, fmt=observability.log_format)
    with etcd_endpoints(settings.etcd) as endpoints:
        event_loop.run(serve(settings, endpoints, load))


if __name__ == "__main__":
    main()
