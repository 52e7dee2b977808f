"""The protobuf envelope decoder used for kubectl's typed requests."""

from __future__ import annotations

import pytest

from tools.kubesim.errors import ApiError
from tools.kubesim.protobuf import MAGIC, decode


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number: int, value: bytes | int) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    return varint(number << 3 | 2) + varint(len(value)) + value


def envelope(kind: str, api_version: str, raw: bytes) -> bytes:
    type_meta = field(1, api_version.encode()) + field(2, kind.encode())
    return MAGIC + field(1, type_meta) + field(2, raw)


def test_delete_options() -> None:
    pre = field(1, b"uid-1")
    raw = field(1, 0) + field(2, pre) + field(4, b"Foreground")
    doc = decode(envelope("DeleteOptions", "v1", raw))
    assert doc == {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "gracePeriodSeconds": 0,
        "preconditions": {"uid": "uid-1"},
        "propagationPolicy": "Foreground",
    }


def test_namespace_with_labels() -> None:
    label = field(1, b"team") + field(2, b"a")
    meta = field(1, b"team-a") + field(11, label) + field(99, b"ignored")
    doc = decode(envelope("Namespace", "v1", field(1, meta)))
    assert doc["metadata"] == {"name": "team-a", "labels": {"team": "a"}}


def test_deployment_drops_go_zero_values_but_keeps_pointer_zeros() -> None:
    container = field(1, b"web") + field(2, b"nginx:1.27") + field(5, b"") + field(16, 0)
    port = field(3, 80) + field(4, b"")
    container += field(6, port)
    requests = field(1, b"cpu") + field(2, field(1, b"250m"))
    container += field(8, field(2, requests))
    pod_spec = field(2, container) + field(3, b"") + field(11, 0)
    surge = field(1, 1) + field(3, b"50%")
    strategy = field(1, b"RollingUpdate") + field(2, field(2, surge))
    spec = field(1, 0) + field(3, field(2, pod_spec)) + field(4, strategy) + field(5, 0)
    doc = decode(envelope("Deployment", "apps/v1", field(2, spec)))
    assert doc["spec"] == {
        "replicas": 0,
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "nginx:1.27",
                        "ports": [{"containerPort": 80}],
                        "resources": {"requests": {"cpu": "250m"}},
                    }
                ]
            }
        },
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "50%"}},
    }


def test_unknown_kind_is_415() -> None:
    with pytest.raises(ApiError) as err:
        decode(envelope("Service", "v1", b""))
    assert err.value.code == 415
