"""`fedctl dev up|status|down`: the whole federation on this machine (etcd, kubesim,
workers, proxies), detached, in a directory of its own."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import click
from rich.console import RenderableType

from tools.devstack.stack import Stack, StackConfig, StackError, StackInfo, alive, down
from tools.fedctl import context
from tools.fedctl.errors import CliError
from tools.fedctl.output import emit_data, output_option
from tools.fedctl.parsing import CPU, MEMORY, QuantityType
from tools.fedctl.stackview import probe, stack_tables

DEFAULT_DIR = Path("var/stack")
_STATE_DIRS = ("etcd", "kubesim")

dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DIR,
    show_default=True,
    help="The stack's directory: stack.json, logs, etcd data.",
)


def _quantity(kind: QuantityType) -> Callable[[click.Context, click.Parameter, str], str]:
    """Check a quantity flag but keep its text (kubesim takes the text)."""

    def check(ctx: click.Context, param: click.Parameter, value: str) -> str:
        kind.convert(value, param, ctx)
        return value

    return check


@click.group()
def dev() -> None:
    """The one-machine stack for trying things out, tests and demos."""


@dev.command()
@click.option("--clusters", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--nodes", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--node-cpu", default="32", show_default=True, callback=_quantity(CPU))
@click.option("--node-memory", default="128Gi", show_default=True, callback=_quantity(MEMORY))
@click.option("--proxies", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="For every process.")
@click.option("--proxy-set", multiple=True, metavar="KEY=VALUE", help="For the proxies only.")
@click.option("--worker-set", multiple=True, metavar="KEY=VALUE", help="For the workers only.")
@dir_option
@output_option
def up(
    clusters: int,
    nodes: int,
    node_cpu: str,
    node_memory: str,
    proxies: int,
    workers: int,
    settings: tuple[str, ...],
    proxy_set: tuple[str, ...],
    worker_set: tuple[str, ...],
    directory: Path,
    fmt: str,
) -> None:
    """Start etcd, kubesim (CLUSTERS x NODES, spread over regions and zones), workers and
    proxies; wait until every cluster is Ready; make this stack fedctl's context."""
    _refuse_running(directory)
    _clear_state(directory)
    started = time.monotonic()
    chatty = fmt == "table"

    def progress(message: str) -> None:
        click.echo(f"  [{time.monotonic() - started:5.1f}s] {message}", err=not chatty)

    click.echo(f"starting a stack in {directory.resolve()}", err=not chatty)
    config = StackConfig(
        dir=directory, clusters=clusters, nodes=nodes, node_cpu=node_cpu,
        node_memory=node_memory, proxies=proxies, workers=workers, settings=list(settings),
        proxy_settings=list(proxy_set), worker_settings=list(worker_set), progress=progress,
    )  # fmt: skip
    info = Stack(config).up()
    saved = context.save(context.Context(info.proxy_addresses, info.dir))
    took = time.monotonic() - started
    emit_data(asdict(info), fmt, lambda: _summary(info, saved, took, directory))


def _summary(info: StackInfo, saved: Path, took: float, directory: Path) -> list[RenderableType]:
    return [
        f"stack up in {took:.1f} s",
        f"  servers: {','.join(info.proxy_addresses)}",
        f"  logs:    {Path(info.dir) / 'logs'}",
        f"  context: {saved} (fedctl now talks to this stack)",
        "next: fedctl cluster list; fedctl dev down" + _dir_flag(directory),
    ]


@dev.command()
@dir_option
@output_option
def status(directory: Path, fmt: str) -> None:
    """Are the stack's processes alive, who leads, are the clusters Ready."""
    info = StackInfo.load(directory)
    health = probe(info)
    emit_data(asdict(health), fmt, lambda: stack_tables(info, health))
    problems = health.problems()
    if problems:
        raise CliError(f"stack in {directory} is not healthy: {'; '.join(problems)}")


@dev.command("down")
@dir_option
@output_option
def down_(directory: Path, fmt: str) -> None:
    """Stop every process of the stack; nothing is left running."""
    members = down(directory)
    left = [m.name for m in members if alive(m.pid)]
    if left:
        raise CliError(f"still running after SIGKILL: {', '.join(left)}")
    forgotten = context.forget(directory)
    lines = [f"stopped {len(members)} processes of the stack in {directory.resolve()}"]
    if forgotten:
        lines.append(f"removed the context {context.context_path()}")
    stopped = {"stopped": [asdict(m) for m in members], "context_removed": forgotten}
    emit_data(stopped, fmt, lambda: lines)


def _refuse_running(directory: Path) -> None:
    try:
        info = StackInfo.load(directory)
    except StackError:
        return
    if any(alive(member.pid) for member in info.members()):
        raise CliError(
            f"a stack already runs in {directory}; stop it with `fedctl dev down"
            f"{_dir_flag(directory)}` or pick another --dir"
        )


def _clear_state(directory: Path) -> None:
    """A new stack starts from empty etcd and kubesim state (logs are kept)."""
    for name in _STATE_DIRS:
        shutil.rmtree(directory / name, ignore_errors=True)


def _dir_flag(directory: Path) -> str:
    return "" if directory == DEFAULT_DIR else f" --dir {directory}"
