"""Rendering and server resolution, without a server: tables, proto-named JSON, contexts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fed.v1 import federation_pb2, types_pb2
from tools.fedctl import context, views
from tools.fedctl.errors import CliError
from tools.fedctl.output import emit


def cluster(name: str) -> federation_pb2.ClusterInfo:
    gib = 1 << 30
    return federation_pb2.ClusterInfo(
        spec=types_pb2.ClusterSpec(
            name=name, region="r1", zone="r1-a", state=types_pb2.ADMIN_STATE_CORDONED
        ),
        status=types_pb2.ClusterStatus(
            allocatable=types_pb2.Resources(cpu_millis=64000, memory_bytes=256 * gib),
            usage=types_pb2.Resources(cpu_millis=1250, memory_bytes=gib),
            nodes_total=4,
            nodes_ready=3,
            hot_nodes=1,
        ),
        health=types_pb2.ClusterHealthRecord(health=types_pb2.CLUSTER_HEALTH_SUSPECT),
        reserved=types_pb2.Resources(cpu_millis=2500, memory_bytes=3 * gib // 2),
        workers=["worker-1", "worker-2"],
    )


def test_cluster_table_row(capsys: pytest.CaptureFixture[str]) -> None:
    infos = [cluster("b"), cluster("a")]
    listing = federation_pb2.ListClustersResponse(clusters=infos)
    emit(listing, "table", lambda: views.cluster_table(infos))
    header, first, second = capsys.readouterr().out.splitlines()
    assert header.split()[:6] == ["NAME", "REGION", "ZONE", "STATE", "HEALTH", "NODES"]
    assert first.split() == [
        "a", "r1", "r1-a", "Cordoned", "Suspect", "3/4", "64", "/", "2.5", "/", "1.25",
        "256Gi", "/", "1.5Gi", "/", "1Gi", "0", "1", "worker-1,worker-2",
    ]  # fmt: skip
    assert second.startswith("b ")


def test_json_and_yaml_use_the_proto_field_names(capsys: pytest.CaptureFixture[str]) -> None:
    info = cluster("a")
    emit(info, "json", lambda: [])
    as_json = json.loads(capsys.readouterr().out)
    assert as_json["status"]["nodes_ready"] == 3
    assert as_json["reserved"]["cpu_millis"] == "2500"
    assert as_json["health"]["health"] == "CLUSTER_HEALTH_SUSPECT"
    emit(info, "yaml", lambda: [])
    assert yaml.safe_load(capsys.readouterr().out) == as_json


def test_server_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(context.HOME_ENV, str(tmp_path))
    monkeypatch.delenv(context.SERVER_ENV, raising=False)
    with pytest.raises(CliError, match="no server"):
        context.servers(None)
    context.save(context.Context(["127.0.0.1:1"], str(tmp_path / "stack")))
    assert context.servers(None) == ["127.0.0.1:1"]
    monkeypatch.setenv(context.SERVER_ENV, "127.0.0.1:2, 127.0.0.1:3")
    assert context.servers(None) == ["127.0.0.1:2", "127.0.0.1:3"]
    assert context.servers("localhost:4") == ["localhost:4"]
    assert not context.forget(tmp_path / "other")
    assert context.forget(tmp_path / "stack")
    assert context.load() is None
