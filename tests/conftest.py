"""Shared fixtures: a real etcd started by the project, and stores isolated by key prefix."""

from __future__ import annotations

import os

# The test session spawns etcd, kubesim, proxies and workers (fork+exec) with gRPC loaded:
# see tools/__init__.py for why gRPC's fork support is off. Set before grpc is imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from common.etcd_launcher import EmbeddedEtcd
from common.etcd_store import EtcdStore
from common.keys import Keys
from tools import native


def pytest_sessionstart(session: pytest.Session) -> None:
    """Never test stale compiled extensions in place of the sources (see tools/native.py)."""
    reason = native.stale()
    if reason is not None:
        pytest.exit(f"{reason}: run `make native` (or `make native-clean`)", returncode=1)


@pytest.fixture(scope="session")
def etcd() -> Iterator[EmbeddedEtcd]:
    """One etcd for the session; tests isolate themselves with their own key prefix."""
    with EmbeddedEtcd.create() as server:
        yield server


@pytest.fixture
def private_etcd() -> Iterator[EmbeddedEtcd]:
    """An etcd of the test's own, for tests that compact, stop or kill it."""
    with EmbeddedEtcd.create() as server:
        yield server


@pytest.fixture
def keys() -> Keys:
    return Keys(f"/t-{uuid.uuid4().hex[:12]}")


@pytest.fixture
async def store(etcd: EmbeddedEtcd) -> AsyncIterator[EtcdStore]:
    async with EtcdStore([etcd.endpoint], timeout_s=3.0) as connected:
        yield connected
