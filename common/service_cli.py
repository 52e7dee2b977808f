"""The command line every service shares: --etcd, --listen, --id, --config, --set."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TypeVar

from common.settings import load_settings

T = TypeVar("T")


def parse_service_args(
    prog: str, description: str | None, argv: Sequence[str] | None
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--etcd", help="comma-separated etcd endpoints (default: embedded etcd)")
    parser.add_argument("--listen", help="host:port of the gRPC server (port 0: a free one)")
    parser.add_argument("--id", help="this process's id (default: derived from host and pid)")
    parser.add_argument("--config", help="settings YAML file")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.FIELD=VALUE", help="override"
    )
    return parser.parse_args(argv)


def service_settings(cls: type[T], section: str, args: argparse.Namespace) -> T:
    """Settings from the file, the environment and the flags; `section` holds listen and id."""
    overrides = list(args.set)
    if args.etcd:
        overrides.append(f"etcd.endpoints={args.etcd}")
    if args.listen:
        overrides.append(f"{section}.listen={args.listen}")
    if args.id:
        overrides.append(f"{section}.id={args.id}")
    return load_settings(cls, path=args.config, overrides=overrides)
