"""`fedctl topology`: the leader, the proxy replicas, the workers and their clusters."""

from __future__ import annotations

import click

from tools.fedctl import views
from tools.fedctl.api import call
from tools.fedctl.output import emit, output_option


@click.command()
@output_option
def topology(fmt: str) -> None:
    """Who leads, which proxies and workers are registered, which worker serves what."""
    found = call(lambda fed: fed.topology())
    emit(found, fmt, lambda: views.topology_tables(found))
