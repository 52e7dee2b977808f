"""Rendering: kubectl-style tables (rich), or the protobuf message as JSON or YAML with the
field names of the proto."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click
import yaml
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from rich.console import Console, RenderableType
from rich.table import Table

FORMATS = ("table", "json", "yaml")
_PIPE_WIDTH = 250

output_option = click.option(
    "-o",
    "--output",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output format.",
)


def console() -> Console:
    """stdout; wide and colourless when piped so that rows never wrap."""
    if sys.stdout.isatty():
        return Console(highlight=False)
    return Console(width=_PIPE_WIDTH, highlight=False, no_color=True)


def to_dict(message: Message) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)


def emit(message: Message, fmt: str, table: Callable[[], Sequence[RenderableType]]) -> None:
    """Print `message` as JSON or YAML, or the renderables `table` builds from it."""
    emit_data(to_dict(message) if fmt != "table" else {}, fmt, table)


def emit_data(
    data: dict[str, Any], fmt: str, table: Callable[[], Sequence[RenderableType]]
) -> None:
    """Like `emit`, for answers that are not protobuf messages (the local stack)."""
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
    elif fmt == "yaml":
        click.echo(yaml.safe_dump(data, sort_keys=False), nl=False)
    else:
        render(table())


def emit_stream_item(message: Message, fmt: str, row: Callable[[], str]) -> None:
    """One event of a stream: a compact JSON line, a YAML document or a text row."""
    if fmt == "json":
        click.echo(json.dumps(to_dict(message)))
    elif fmt == "yaml":
        click.echo("---\n" + yaml.safe_dump(to_dict(message), sort_keys=False), nl=False)
    else:
        click.echo(row())


def render(renderables: Sequence[RenderableType]) -> None:
    """Print on stdout; piped output loses the tables' trailing padding."""
    out = console()
    if out.is_terminal:
        for renderable in renderables:
            out.print(renderable)
        return
    with out.capture() as captured:
        for renderable in renderables:
            out.print(renderable)
    click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


def table(*headers: str, title: str | None = None) -> Table:
    """A borderless table with bold upper-case headers, as kubectl prints."""
    out = Table(
        box=None,
        pad_edge=False,
        header_style="bold",
        title=title,
        title_justify="left",
        title_style="bold",
    )
    for header in headers:
        out.add_column(header.upper(), no_wrap=True)
    return out


def enum_name(value: str, prefix: str) -> str:
    """`CLUSTER_HEALTH_READY` -> `Ready`."""
    return value.removeprefix(prefix).replace("_", " ").title().replace(" ", "") or "-"
