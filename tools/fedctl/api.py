"""One place where commands reach the federation: a FederationClient on the resolved
servers, run to completion for one command."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import click

from client import FederationClient
from tools.fedctl import context

T = TypeVar("T")


@dataclass
class Settings:
    """The root options every command sees."""

    server: str | None = None
    request_timeout_s: float = 15.0


def settings() -> Settings:
    found = click.get_current_context().find_object(Settings)
    return found if found is not None else Settings()


def call(action: Callable[[FederationClient], Awaitable[T]]) -> T:
    """Run `action` with a client of the current servers; FederationError propagates."""
    current = settings()
    servers = context.servers(current.server)

    async def run() -> T:
        async with FederationClient(
            servers,
            timeout_s=current.request_timeout_s,
            retry_deadline_s=current.request_timeout_s,
        ) as fed:
            return await action(fed)

    return asyncio.run(run())
