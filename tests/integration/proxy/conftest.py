"""The proxy tests run without workers: a fixture heartbeats their clusters' status."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from proxy_support import heartbeating

from common.etcd_store import EtcdStore
from common.keys import Keys


@pytest.fixture
async def heartbeats(store: EtcdStore, keys: Keys) -> AsyncIterator[None]:
    """Status of c1..c3 published every second, as their workers would."""
    async with heartbeating(store, keys, ("c1", "c2", "c3")):
        yield
