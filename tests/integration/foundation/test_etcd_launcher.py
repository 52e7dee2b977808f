"""The embedded etcd as the project starts it."""

from __future__ import annotations

import asyncio
import os
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from common.etcd_launcher import EmbeddedEtcd, etcd_endpoints
from common.etcd_store import EtcdStore
from common.settings import EtcdSettings

pytestmark = pytest.mark.integration


def etcd_children() -> list[int]:
    """Pids of the etcd processes this process started."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, _, fields = stat.read_text().rpartition(")")
        except OSError:
            continue
        if name.endswith("(etcd") and int(fields.split()[1]) == os.getpid():
            found.append(int(stat.parent.name))
    return found


def environment(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (entry.decode().partition("=") for entry in entries if entry)
    return {name: value for name, _, value in pairs}


def test_the_embedded_etcd_runs_with_the_configured_go_gc_percent(tmp_path: Path) -> None:
    already = set(etcd_children())
    settings = EtcdSettings(data_dir=str(tmp_path / "etcd"), go_gc_percent=250)
    with etcd_endpoints(settings):
        (started,) = set(etcd_children()) - already
        assert environment(started)["GOGC"] == "250"


async def test_the_embedded_etcd_snapshots_at_the_configured_count(tmp_path: Path) -> None:
    """A snapshot lets etcd drop the raft entries it holds in memory (etcd's default waits for
    100,000); etcd counts the snapshots it saves on its /metrics page."""
    settings = EtcdSettings(data_dir=str(tmp_path / "etcd"), snapshot_count=100)
    with etcd_endpoints(settings) as (endpoint,):
        async with EtcdStore([endpoint]) as store:
            for serial in range(350):
                await store.put(f"/snapshots/{serial}", b"x")
        assert snapshots_saved(endpoint) >= 3


def snapshots_saved(endpoint: str) -> float:
    with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=5) as response:
        page = response.read().decode()
    (family,) = (
        family
        for family in text_string_to_metric_families(page)
        if family.name == "etcd_debugging_snap_save_total_duration_seconds"
    )
    (count,) = (sample.value for sample in family.samples if sample.name.endswith("_count"))
    return count


async def test_the_embedded_etcd_compacts_history_older_than_its_retention() -> None:
    """Polled: etcd's compactor runs on its own clock, and nothing announces a compaction."""
    with EmbeddedEtcd.create(compaction_retention="1s") as etcd:
        async with EtcdStore([etcd.endpoint]) as store:
            first = await store.put("/history/key", b"1")
            await store.put("/history/key", b"2")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    await store.range("/history/", revision=first)
                except grpc.aio.AioRpcError as error:
                    assert error.code() == grpc.StatusCode.OUT_OF_RANGE
                    assert "compacted" in str(error.details())
                    return
                await asyncio.sleep(0.1)
    pytest.fail("the first revision was never compacted")
