"""Fixtures: a small kubesim fleet on its own loop thread, and official-client handles."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from integration.kubesim.kubesim_support import Kube, kube_for
from kubernetes import client

from tools.kubesim import SimConfig, SimThread


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimThread]:
    out = tmp_path_factory.mktemp("kubesim")
    cfg = SimConfig(
        clusters=2,
        nodes=4,
        node_cpu="4",
        node_memory="16Gi",
        kubelet_delay=0.05,
        termination_delay=0.05,
        bookmark_interval=0.2,
        tick=0.01,
    )
    with SimThread(cfg, out) as sim:
        yield sim


@pytest.fixture(scope="module")
def kube(fleet: SimThread) -> Kube:
    out = Path(fleet.sim.out or ".")
    return kube_for(out / "c1.kubeconfig")


@pytest.fixture
def namespace(kube: Kube) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name
