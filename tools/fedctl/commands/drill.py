"""`fedctl drill ...` and `fedctl rebalance`: rehearse losing clusters, and relieve hot ones.

plan is a dry run (what moves where, and any shortfall); execute cordons the clusters and
moves their replicas with a live progress bar; restore uncordons them and fails back what
the drill moved; report shows the timeline, the steps, failures and the measured RTO.
"""

from __future__ import annotations

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from client import FederationClient
from fed.v1 import federation_pb2, types_pb2
from tools.fedctl import operation_views
from tools.fedctl.api import call
from tools.fedctl.output import console, emit, output_option

MODES = {"graceful": types_pb2.FAILOVER_MODE_GRACEFUL, "direct": types_pb2.FAILOVER_MODE_DIRECT}
RUNNING = types_pb2.OPERATION_PHASE_RUNNING


def target(func: click.decorators.FC) -> click.decorators.FC:
    """--cluster (repeatable) or --region: exactly one of them."""
    func = click.option("--region", default="", help="Every cluster of this region.")(func)
    return click.option("--cluster", "clusters", multiple=True, metavar="NAME", help="Repeatable.")(
        func
    )


def _check_target(clusters: tuple[str, ...], region: str) -> None:
    if bool(clusters) == bool(region):
        raise click.UsageError("give --cluster NAME (repeatable) or --region NAME, not both")


@click.group()
def drill() -> None:
    """Rehearse losing clusters or a region: plan, execute, restore, report."""


@drill.command()
@target
@click.option("--mode", type=click.Choice(sorted(MODES)), default="graceful", show_default=True)
@output_option
def plan(clusters: tuple[str, ...], region: str, mode: str, fmt: str) -> None:
    """Dry run: what would move where, and what fits nowhere. Nothing moves."""
    _check_target(clusters, region)
    operation = call(lambda fed: fed.start_failover(
        federation_pb2.FAILOVER_ACTION_PLAN, clusters=clusters, region=region,
        mode=MODES[mode], drill=True,
    ))  # fmt: skip
    emit(operation, fmt, lambda: operation_views.plan(operation))


@drill.command()
@target
@click.option("--mode", type=click.Choice(sorted(MODES)), default="graceful", show_default=True)
@click.option("--no-wait", is_flag=True, help="Return once started instead of following it.")
@output_option
def execute(clusters: tuple[str, ...], region: str, mode: str, no_wait: bool, fmt: str) -> None:
    """Cordon the clusters and move every replica off them (graceful: the sources stay until
    the new replicas are Ready)."""
    _check_target(clusters, region)

    async def run(fed: FederationClient) -> types_pb2.Operation:
        operation = await fed.start_failover(
            federation_pb2.FAILOVER_ACTION_EXECUTE, clusters=clusters, region=region,
            mode=MODES[mode], drill=True,
        )  # fmt: skip
        if no_wait:
            return operation
        return await follow(fed, operation, show=fmt == "table")

    operation = call(run)
    emit(operation, fmt, lambda: operation_views.report(operation))


@drill.command()
@target
@click.option("--no-wait", is_flag=True, help="Return once started instead of following it.")
@output_option
def restore(clusters: tuple[str, ...], region: str, no_wait: bool, fmt: str) -> None:
    """Uncordon the clusters and, once they are Ready, fail back what the last drill moved."""
    _check_target(clusters, region)

    async def run(fed: FederationClient) -> types_pb2.Operation:
        operation = await fed.start_failover(
            federation_pb2.FAILOVER_ACTION_RESTORE, clusters=clusters, region=region, drill=True
        )
        if no_wait:
            return operation
        return await follow(fed, operation, show=fmt == "table")

    operation = call(run)
    emit(operation, fmt, lambda: operation_views.report(operation))


@drill.command()
@click.argument("operation_id", metavar="OPERATION")
@output_option
def report(operation_id: str, fmt: str) -> None:
    """Timeline, replicas moved, failures and the measured RTO of OPERATION."""
    operation = call(lambda fed: fed.get_operation(operation_id))
    emit(operation, fmt, lambda: operation_views.report(operation))


@click.command()
@click.option("--cluster", "clusters", multiple=True, metavar="NAME", help="Default: the hot ones.")
@click.option("--dry-run", is_flag=True, help="Only plan.")
@output_option
def rebalance(clusters: tuple[str, ...], dry_run: bool, fmt: str) -> None:
    """Move replicas off hot (or the named) clusters, create before delete."""
    operation = call(lambda fed: fed.rebalance(clusters, dry_run=dry_run))
    view = operation_views.plan if dry_run else operation_views.summary
    emit(operation, fmt, lambda: view(operation))


async def follow(
    fed: FederationClient, operation: types_pb2.Operation, *, show: bool
) -> types_pb2.Operation:
    """Follow the operation to its end, with a progress bar on a terminal."""
    total = max(1, operation.replicas_total)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} replicas"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console(), disable=not show, transient=False) as bar:
        task = bar.add_task(f"{operation.id} moving", total=total)
        async for current in fed.watch_operation(operation.id):
            operation = current
            bar.update(task, completed=current.replicas_moved + current.replicas_failed)
            if current.phase != RUNNING:
                break
    return operation
