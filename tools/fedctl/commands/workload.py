"""`fedctl workload ...`: place, apply -f, get, list, scale, delete, explain, watch."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import click
import grpc
from rich.console import RenderableType

from client import FederationClient, FederationError
from fed.v1 import federation_pb2, types_pb2
from tools.fedctl import manifest, parsing, views
from tools.fedctl.api import call
from tools.fedctl.errors import CliError
from tools.fedctl.output import emit, emit_stream_item, enum_name, output_option
from tools.fedctl.spec import SPREAD_TOPOLOGIES, Placement, deployment, workload_spec

namespace_option = click.option(
    "-n", "--namespace", default="default", show_default=True, help="Namespace of the workload."
)


@click.group()
def workload() -> None:
    """Workloads placed across the clusters."""


@workload.command()
@click.argument("name")
@namespace_option
@click.option("--replicas", type=click.IntRange(min=0), required=True)
@click.option("--cpu", type=parsing.CPU, required=True, help="Per replica, e.g. 500m or 2.")
@click.option("--memory", type=parsing.MEMORY, required=True, help="Per replica, e.g. 512Mi.")
@click.option("--image", required=True, help="Container image.")
@click.option("--policy", default="", help="A named scheduling policy of the proxies.")
@click.option("--spread", type=click.Choice(SPREAD_TOPOLOGIES), help="Spread over these groups.")
@click.option("--max-skew", type=click.IntRange(min=0), default=0, help="With --spread.")
@click.option("--min-clusters", type=click.IntRange(min=0), default=0)
@click.option("--max-clusters", type=click.IntRange(min=0), default=0, help="0: no limit.")
@click.option("--region", "regions", multiple=True, help="Allowed region (repeatable).")
@click.option("--gang", is_flag=True, help="All replicas or none.")
@click.option("--allow-partial", is_flag=True, help="Place what fits, report the rest.")
@click.option("--priority", type=int, default=0, help="Higher moves first on failover.")
@output_option
def place(
    name: str,
    namespace: str,
    replicas: int,
    cpu: int,
    memory: int,
    image: str,
    policy: str,
    spread: str | None,
    max_skew: int,
    min_clusters: int,
    max_clusters: int,
    regions: tuple[str, ...],
    gang: bool,
    allow_partial: bool,
    priority: int,
    fmt: str,
) -> None:
    """Place REPLICAS replicas of workload NAME on the best clusters."""
    wishes = Placement(
        policy, spread or "", max_skew, min_clusters, max_clusters, gang, allow_partial,
        list(regions),
    )  # fmt: skip
    spec = workload_spec(
        namespace, name, replicas, cpu, memory, deployment(name, image, cpu, memory), wishes,
        priority,
    )  # fmt: skip
    response = call(lambda fed: fed.place(spec))
    emit(response, fmt, lambda: _placed("placed", response))


@workload.command()
@click.option("-f", "--filename", required=True, metavar="FILE", help="Deployment YAML, or -.")
@click.option("-n", "--namespace", default=None, help="Overrides metadata.namespace.")
@output_option
def apply(filename: str, namespace: str | None, fmt: str) -> None:
    """Place the Deployment in FILE, or scale it to the file's replicas if it exists."""
    source = parsing.read_text(filename, "manifest")
    spec = manifest.to_spec(manifest.load(source, filename), namespace, filename)
    verb, response = call(lambda fed: _apply(fed, spec))
    emit(response, fmt, lambda: _placed(verb, response))


async def _apply(
    fed: FederationClient, spec: types_pb2.WorkloadSpec
) -> tuple[str, federation_pb2.PlaceWorkloadResponse | federation_pb2.ScaleWorkloadResponse]:
    try:
        existing = await fed.get_workload(spec.namespace, spec.name)
    except FederationError as error:
        if error.code != grpc.StatusCode.NOT_FOUND:
            raise
        return "placed", await fed.place(spec)
    if existing.spec.template_json != spec.template_json or _shape(existing.spec) != _shape(spec):
        raise CliError(
            f"workload {spec.namespace}/{spec.name} exists with another template or shape; "
            "only replicas change in place: delete it and apply again"
        )
    if existing.spec.replicas == spec.replicas:
        return "unchanged", federation_pb2.ScaleWorkloadResponse(workload=existing)
    return "scaled", await fed.scale(spec.namespace, spec.name, spec.replicas)


def _shape(spec: types_pb2.WorkloadSpec) -> tuple[int, int, bytes]:
    policy = spec.policy.SerializeToString(deterministic=True)
    return spec.resources.cpu_millis, spec.resources.memory_bytes, policy


@workload.command()
@click.argument("name")
@namespace_option
@output_option
def get(name: str, namespace: str, fmt: str) -> None:
    """Workload NAME with its placement per cluster."""
    found = call(lambda fed: fed.get_workload(namespace, name))
    emit(found, fmt, lambda: views.workload_details(found))


@workload.command("list")
@click.option("-n", "--namespace", default="", help="Only this namespace.")
@click.option("-A", "--all-namespaces", is_flag=True, help="Every namespace (the default).")
@click.option("--cluster", default="", help="Only workloads with replicas on this cluster.")
@output_option
def list_(namespace: str, all_namespaces: bool, cluster: str, fmt: str) -> None:
    """Workloads, with their replicas, phase and placement."""
    scope = "" if all_namespaces else namespace
    found = call(lambda fed: fed.list_workloads(scope, cluster))
    response = federation_pb2.ListWorkloadsResponse(workloads=found)
    emit(response, fmt, lambda: views.workload_table(found))


@workload.command()
@click.argument("name")
@namespace_option
@click.option("--replicas", type=click.IntRange(min=0), required=True)
@output_option
def scale(name: str, namespace: str, replicas: int, fmt: str) -> None:
    """Change the replicas of workload NAME; the federation places the difference."""
    response = call(lambda fed: fed.scale(namespace, name, replicas))
    emit(response, fmt, lambda: _placed("scaled", response))


@workload.command()
@click.argument("name")
@namespace_option
@output_option
def delete(name: str, namespace: str, fmt: str) -> None:
    """Delete workload NAME from every cluster and release its reservations."""
    response = call(lambda fed: fed.delete(namespace, name))
    emit(response, fmt, lambda: [f"workload/{namespace}/{name} deleted"])


@workload.command()
@click.argument("name", required=False)
@namespace_option
@click.option("-f", "--filename", metavar="FILE", help="Explain this Deployment instead.")
@click.option("--replicas", type=click.IntRange(min=0), help="Explain this many replicas.")
@output_option
def explain(
    name: str | None, namespace: str, filename: str | None, replicas: int | None, fmt: str
) -> None:
    """Why the federation would place workload NAME (or the Deployment in FILE) where it
    would: every cluster's filters, capacity and scores. Reserves nothing."""
    if (name is None) == (filename is None):
        raise CliError("explain needs a workload NAME or -f FILE (one of them)")

    async def run(fed: FederationClient) -> federation_pb2.ExplainPlacementResponse:
        if filename is not None:
            text = parsing.read_text(filename, "manifest")
            spec = manifest.to_spec(manifest.load(text, filename), None, filename)
        else:
            spec = (await fed.get_workload(namespace, name or "")).spec
        if replicas is not None:
            spec.replicas = replicas
        return await fed.explain(spec)

    response = call(run)
    emit(response, fmt, lambda: views.explain_table(response))


@workload.command()
@click.option("-n", "--namespace", default="", help="Only this namespace (default: all).")
@click.option("--no-initial", is_flag=True, help="Only changes, not the current workloads.")
@output_option
def watch(namespace: str, no_initial: bool, fmt: str) -> None:
    """Stream workload changes until interrupted (Ctrl-C)."""

    async def run(fed: FederationClient) -> None:
        async for event in fed.watch_workloads(namespace, send_initial=not no_initial):
            emit_stream_item(event, fmt, _event_row(event))
        raise CliError("the watch ended: the proxy went away")

    try:
        call(run)
    except (KeyboardInterrupt, asyncio.CancelledError):
        return


def _event_row(event: federation_pb2.WorkloadEvent) -> Callable[[], str]:
    def row() -> str:
        kind = enum_name(federation_pb2.EventType.Name(event.type), "EVENT_TYPE_").upper()
        spec = event.workload.spec
        return (
            f"{kind:<9} {spec.namespace}/{spec.name} replicas={spec.replicas} "
            f"phase={views.phase(event.workload.phase)} "
            f"placement={views.placement_text(event.workload.placement)}"
        )

    return row


def _placed(
    verb: str,
    response: federation_pb2.PlaceWorkloadResponse | federation_pb2.ScaleWorkloadResponse,
) -> list[RenderableType]:
    spec = response.workload.spec
    lines: list[RenderableType] = [f"workload/{spec.namespace}/{spec.name} {verb}"]
    lines += views.workload_table([response.workload])
    if response.unplaced_replicas:
        lines.append(f"{response.unplaced_replicas} replicas did not fit anywhere")
    return lines
