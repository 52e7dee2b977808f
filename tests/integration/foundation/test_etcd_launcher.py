"""The embedded etcd as the project starts it."""

from __future__ import annotations

import os
from pathlib import Path

from common.etcd_launcher import etcd_endpoints
from common.settings import EtcdSettings


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
