"""Registration, assignment and a first estimate against kubesim."""

from __future__ import annotations

import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from integration.worker.worker_support import (
    WorkerThread,
    run_etcd,
    wait_for,
    worker_settings,
    write_records,
)

from common.etcd_launcher import EmbeddedEtcd
from common.etcd_store import EtcdStore
from common.keys import Keys
from fed.v1 import types_pb2, worker_pb2
from tools.kubesim import SimThread

pytestmark = pytest.mark.integration


def test_worker_registers_serves_its_assignment_and_deregisters(
    etcd: EmbeddedEtcd, keys: Keys, fleet: SimThread
) -> None:
    write_records(etcd.endpoint, keys, fleet, {"w1": (["c1"], ["c1"])})
    with WorkerThread(worker_settings(etcd.endpoint, keys, "w1")) as worker:

        async def member(store: EtcdStore) -> types_pb2.MemberRecord | None:
            kv = await store.get(keys.worker("w1"))
            return types_pb2.MemberRecord.FromString(kv.value) if kv else None

        record = run_etcd(etcd.endpoint, member)
        assert record is not None and record.address == worker.app.address
        wait_for(lambda: worker.synced("c1"), what="cache synced")
        reply = worker.stub.Estimate(
            worker_pb2.EstimateRequest(
                cluster="c1", per_replica=types_pb2.Resources(cpu_millis=1000)
            ),
            timeout=5,
        )
        assert (reply.max_replicas, reply.nodes_considered, reply.worker_id) == (32, 4, "w1")
        with pytest.raises(grpc.RpcError) as err:
            worker.stub.Estimate(worker_pb2.EstimateRequest(cluster="c9"), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE  # the proxy tries another
        assert "not assigned" in (err.value.details() or "")
        assert worker.channel is not None
        health = health_pb2_grpc.HealthStub(worker.channel)
        served = health.Check(health_pb2.HealthCheckRequest(service="fed.v1.Worker"), timeout=5)
        assert served.status == health_pb2.HealthCheckResponse.SERVING
        assert worker.app.metrics is not None
        with urllib.request.urlopen(worker.app.metrics.url, timeout=5) as response:
            assert b"fed_worker_rpc_seconds" in response.read()
    assert run_etcd(etcd.endpoint, member) is None
