"""Apply stays exactly-once when the worker is SIGKILLed between the Kubernetes create and its
reply: the caller's retry on a fresh worker finds the Deployment and succeeds. Also checks
graceful shutdown on SIGTERM (the registration disappears)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from integration.worker.worker_support import read_status, run_etcd, wait_for, write_records

from common.etcd_launcher import EmbeddedEtcd, die_with_parent, free_port
from common.etcd_store import EtcdStore
from common.keys import Keys
from fed.v1 import types_pb2, worker_pb2, worker_pb2_grpc
from tools.kubesim import SimThread

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


@contextmanager
def worker_process(
    etcd: EmbeddedEtcd, keys: Keys, log: Path, crash_after_create: bool
) -> Iterator[tuple[subprocess.Popen[bytes], worker_pb2_grpc.WorkerStub]]:
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "FED_WORKER__CRASH_AFTER_CREATE": str(crash_after_create).lower()}
    cmd = [
        sys.executable, "-m", "worker",
        "--etcd", etcd.endpoint,
        "--listen", address,
        "--id", "wk",
        "--set", f"etcd.prefix={keys.prefix}",
        "--set", "worker.status_period_s=0.5",
    ]  # fmt: skip
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stderr=sink,
            stdout=sink,
            preexec_fn=die_with_parent,  # noqa: PLW1509 (the child only execs)
        )
    channel = grpc.insecure_channel(address)
    try:
        yield proc, worker_pb2_grpc.WorkerStub(channel)
    finally:
        channel.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def member(etcd: EmbeddedEtcd, keys: Keys) -> bytes | None:
    async def work(store: EtcdStore) -> bytes | None:
        kv = await store.get(keys.worker("wk"))
        return kv.value if kv else None

    return run_etcd(etcd.endpoint, work)


def deployments(fleet: SimThread) -> list[int]:
    def read() -> list[int]:
        table = fleet.clusters["c1"].store.table("deployments")
        return [
            e.obj["spec"]["replicas"] for k, e in table.entries.items() if k.startswith("shop/")
        ]

    result: list[int] = fleet.run(read)
    return result


REQUEST = worker_pb2.ApplyRequest(
    cluster="c1",
    namespace="shop",
    name="cart",
    reservation_id="r-42",
    epoch=3,
    replicas=3,
    per_replica=types_pb2.Resources(cpu_millis=200, memory_bytes=2**27),
)


def test_apply_survives_sigkill_between_create_and_reply(
    etcd: EmbeddedEtcd, keys: Keys, fleet: SimThread, tmp_path: Path
) -> None:
    write_records(etcd.endpoint, keys, fleet, {"wk": (["c1"], ["c1"])})
    log = tmp_path / "worker.log"
    with worker_process(etcd, keys, log, crash_after_create=True) as (proc, stub):
        wait_for(lambda: read_status(etcd.endpoint, keys, "c1"), what="first worker serving")
        with pytest.raises(grpc.RpcError) as err:
            stub.Apply(REQUEST, timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert proc.wait(10) == -signal.SIGKILL
    assert deployments(fleet) == [3]

    run_etcd(etcd.endpoint, lambda store: store.delete(keys.cluster_status("c1")))
    with worker_process(etcd, keys, log, crash_after_create=False) as (proc, stub):
        wait_for(lambda: read_status(etcd.endpoint, keys, "c1"), what="second worker serving")
        reply = stub.Apply(REQUEST, timeout=10)
        assert (reply.created, reply.replicas, reply.deployment) == (False, 3, "cart")
        assert deployments(fleet) == [3]
        assert member(etcd, keys) is not None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, log.read_text()[-2000:]
    assert member(etcd, keys) is None
