"""Faults grammar, usage model, tables, config placement, discovery."""

from __future__ import annotations

import pytest

from tools.kubesim.config import SimConfig
from tools.kubesim.discovery import resource_list
from tools.kubesim.faults import Fault, parse_duration, parse_percent
from tools.kubesim.tables import human_age
from tools.kubesim.units import memory_bytes, milli_cpu, pod_requests
from tools.kubesim.usage import Profile


def test_fault_grammar() -> None:
    assert parse_duration("200ms") == pytest.approx(0.2)
    assert parse_duration("1.5s") == pytest.approx(1.5)
    assert parse_percent("30%") == pytest.approx(0.3)
    assert Fault.parse("latency", "50ms") == Fault("latency", 0.05)
    with pytest.raises(ValueError, match="unknown fault"):
        Fault.parse("explode")
    with pytest.raises(ValueError, match="needs an argument"):
        Fault.parse("error-rate")
    with pytest.raises(ValueError, match="invalid percentage"):
        parse_percent("150%")


def test_quantities() -> None:
    assert milli_cpu("250m") == 250
    assert milli_cpu("2") == 2000
    assert memory_bytes("1Gi") == 1024**3
    assert memory_bytes("1G") == 10**9
    spec = {
        "containers": [{"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}] * 2,
        "initContainers": [{"resources": {"requests": {"cpu": "3"}}}],
    }
    assert pod_requests(spec) == (3000, 2 * 1024**3)


def test_usage_profiles_vary_by_workload_and_time() -> None:
    profiles = [Profile.of(f"ns/Deployment/w{i}", 0) for i in range(200)]
    fractions = [p.fractions(0.0)[0] for p in profiles]
    assert min(fractions) < 0.4
    assert max(fractions) > 0.9
    assert profiles[0].fractions(0.0) != profiles[0].fractions(300.0)
    assert Profile.of("ns/x", 0) == Profile.of("ns/x", 0)


def test_cluster_placement() -> None:
    specs = SimConfig(clusters=7, regions=("r1", "r2", "r3"), zones_per_region=2).cluster_specs()
    assert [s.name for s in specs[:3]] == ["c1", "c2", "c3"]
    assert [(s.region, s.zone) for s in specs[:4]] == [
        ("r1", "r1-a"), ("r2", "r2-a"), ("r3", "r3-a"), ("r1", "r1-b")
    ]  # fmt: skip
    assert specs[6].zone == "r1-a"


def test_human_age() -> None:
    assert human_age("2024-01-01T00:00:00Z", now=1704067200 + 30) == "30s"
    assert human_age("2024-01-01T00:00:00Z", now=1704067200 + 300) == "5m"
    assert human_age("2024-01-01T00:00:00Z", now=1704067200 + 3 * 86400) == "3d"


def test_discovery_lists_subresources() -> None:
    doc = resource_list("apps", "v1")
    assert doc is not None
    names = {r["name"] for r in doc["resources"]}
    assert names == {
        "deployments",
        "deployments/status",
        "deployments/scale",
        "replicasets",
        "replicasets/status",
        "replicasets/scale",
    }
    assert resource_list("batch", "v1") is None
