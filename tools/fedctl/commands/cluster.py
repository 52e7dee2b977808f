"""`fedctl cluster ...`: register, remove, cordon, uncordon, list, describe."""

from __future__ import annotations

import click

from fed.v1 import federation_pb2, types_pb2
from tools.fedctl import parsing, views
from tools.fedctl.api import call
from tools.fedctl.output import emit, output_option


@click.group()
def cluster() -> None:
    """Member clusters of the federation."""


@cluster.command()
@click.argument("name")
@click.option("--kubeconfig", required=True, metavar="FILE", help="Credentials of the cluster.")
@click.option("--region", default="", help="Region the cluster runs in.")
@click.option("--zone", default="", help="Zone within the region.")
@click.option("--label", "label_items", multiple=True, metavar="KEY=VALUE", help="Repeatable.")
@click.option("--taint", "taint_items", multiple=True, metavar="KEY[=VALUE]:EFFECT")
@click.option("--workers", type=click.IntRange(min=0), default=0, help="0: from its size.")
@output_option
def register(
    name: str,
    kubeconfig: str,
    region: str,
    zone: str,
    label_items: tuple[str, ...],
    taint_items: tuple[str, ...],
    workers: int,
    fmt: str,
) -> None:
    """Register cluster NAME (its API must answer with the kubeconfig's credentials)."""
    spec = types_pb2.ClusterSpec(
        name=name,
        kubeconfig=parsing.read_text(kubeconfig, "kubeconfig"),
        region=region,
        zone=zone,
        labels=parsing.labels(label_items),
        taints=[parsing.taint(item) for item in taint_items],
        wanted_workers=workers,
    )
    info = call(lambda fed: fed.register_cluster(spec))
    emit(info, fmt, lambda: views.cluster_table([info]))


@cluster.command()
@click.argument("name")
@click.option("--force", is_flag=True, help="Remove even while it holds reservations.")
@click.option("--drain", is_flag=True, help="Move its workloads off first, then remove it.")
@output_option
def remove(name: str, force: bool, drain: bool, fmt: str) -> None:
    """Remove cluster NAME from the federation."""
    if force and drain:
        raise click.UsageError("--force and --drain exclude each other")
    response = call(lambda fed: fed.remove_cluster(name, force=force, drain=drain))
    done = f"cluster/{name} draining (operation {response.operation_id}); removed when empty"
    emit(response, fmt, lambda: [done if drain else f"cluster/{name} removed"])


@cluster.command()
@click.argument("name")
@click.option("--reason", default="", help="Recorded with the state.")
@output_option
def cordon(name: str, reason: str, fmt: str) -> None:
    """Stop placing new replicas on cluster NAME (it keeps what it runs)."""
    info = call(lambda fed: fed.cordon(name, reason))
    emit(info, fmt, lambda: [f"cluster/{name} cordoned"])


@cluster.command()
@click.argument("name")
@output_option
def uncordon(name: str, fmt: str) -> None:
    """Let cluster NAME take new replicas again."""
    info = call(lambda fed: fed.uncordon(name))
    emit(info, fmt, lambda: [f"cluster/{name} uncordoned"])


@cluster.command("list")
@output_option
def list_(fmt: str) -> None:
    """Every cluster: state, health, nodes, cpu and memory allocatable / reserved / used."""
    infos = call(lambda fed: fed.list_clusters())
    emit(
        federation_pb2.ListClustersResponse(clusters=infos),
        fmt,
        lambda: views.cluster_table(infos),
    )


@cluster.command()
@click.argument("name")
@output_option
def describe(name: str, fmt: str) -> None:
    """Everything the federation knows about cluster NAME."""
    info = call(lambda fed: fed.get_cluster(name))
    emit(info, fmt, lambda: views.cluster_details(info))
