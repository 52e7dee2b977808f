"""The one-machine stack runs its etcd with the etcd settings it hands every service (a proxy
chunks its transactions at etcd.max_txn_ops, so etcd must accept that many)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.devstack.stack import Stack, StackConfig, StackError

pytestmark = pytest.mark.integration


def test_the_stack_runs_etcd_with_the_settings_of_every_service(tmp_path: Path) -> None:
    config = StackConfig(
        dir=tmp_path,
        attached=True,
        settings=[
            "etcd.max_txn_ops=256",
            "etcd.snapshot_count=500",
            "etcd.max_request_bytes=2000000",
        ],
    )
    stack = Stack(config)
    try:
        etcd = stack.start_etcd()
        arguments = Path(f"/proc/{etcd.pid}/cmdline").read_bytes().decode().split("\0")
    finally:
        stack.stop_started()
    assert "--max-txn-ops=256" in arguments
    assert "--snapshot-count=500" in arguments
    assert "--max-request-bytes=2000000" in arguments
    assert f"--data-dir={tmp_path.resolve() / 'etcd' / 'data'}" in arguments


def test_a_bad_setting_stops_the_stack_before_anything_starts(tmp_path: Path) -> None:
    config = StackConfig(dir=tmp_path, settings=["etcd.snapshot_count=0"])
    with pytest.raises(StackError, match=r"etcd\.snapshot_count must be at least 1"):
        Stack(config).up()
    assert not (tmp_path / "etcd").exists()
