"""Fixtures of the worker's integration tests: a small kubesim fleet per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tools.kubesim import SimConfig, SimThread


def fleet_config(**overrides: object) -> SimConfig:
    config = SimConfig(
        clusters=1,
        nodes=4,
        node_cpu="8",
        node_memory="32Gi",
        kubelet_delay=0.05,
        termination_delay=0.05,
        bookmark_interval=0.5,
        tick=0.01,
    )
    for name, value in overrides.items():
        setattr(config, name, value)
    return config


@pytest.fixture
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimThread]:
    with SimThread(fleet_config(), tmp_path_factory.mktemp("kubesim")) as sim:
        yield sim
