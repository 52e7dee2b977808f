"""Large workload specs: a batch is cut into transactions etcd accepts, and a spec too large
for any is refused alone, its batch's other writes placed all the same."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import grpc
import pytest
from proxy_support import leading, node_in_process, stub, workload

from common.etcd_launcher import EmbeddedEtcd
from common.etcd_store import EtcdStore
from common.keys import Keys
from fed.v1 import federation_pb2, types_pb2
from proxy.message_size import MESSAGE_BYTES
from proxy.server import ProxyNode

pytestmark = pytest.mark.integration

WINDOW = ["proxy.batch_window_ms=300"]
"""Long enough for every call of a test to land in one batch."""


@pytest.fixture
async def node(etcd: EmbeddedEtcd, keys: Keys, store: EtcdStore) -> AsyncIterator[ProxyNode]:
    async with node_in_process(store, keys, etcd.endpoint, WINDOW) as started:
        yield started


def large(name: str, template_bytes: int) -> types_pb2.WorkloadSpec:
    spec = workload(name, 1)
    padding = {"fed.io/padding": "x" * template_bytes}
    spec.template_json = json.dumps({"kind": "Deployment", "metadata": {"annotations": padding}})
    return spec


def place(spec: types_pb2.WorkloadSpec) -> federation_pb2.PlaceWorkloadRequest:
    return federation_pb2.PlaceWorkloadRequest(request_id=f"req-{spec.name}", spec=spec)


async def test_large_specs_in_one_batch_go_in_transactions_etcd_accepts(
    node: ProxyNode, store: EtcdStore, keys: Keys, heartbeats: None
) -> None:
    """Two 600 KB specs are written twice each: 2.4 MB, over etcd's 1.5 MiB a request."""
    await asyncio.wait_for(leading(node, keys), timeout=15)
    api = stub(node.address)
    specs = [large("big-1", 600_000), large("big-2", 600_000)]
    specs += [workload(f"small-{i}", 1) for i in range(5)]
    answers = await asyncio.gather(*(api.PlaceWorkload(place(spec)) for spec in specs))
    assert [answer.workload.spec.name for answer in answers] == [spec.name for spec in specs]
    stored = (await store.range(keys.workloads_prefix())).kvs
    assert len(stored) == len(specs)
    records = {types_pb2.Workload.FromString(kv.value).spec.name: kv for kv in stored}
    assert types_pb2.Workload.FromString(records["big-1"].value).spec == specs[0]
    revisions = {kv.mod_revision for kv in stored}
    assert len(revisions) >= 2, "one batch, cut into more than one transaction"


async def test_a_spec_too_large_for_a_transaction_is_refused_alone(
    node: ProxyNode, store: EtcdStore, keys: Keys, heartbeats: None
) -> None:
    await asyncio.wait_for(leading(node, keys), timeout=15)
    api = stub(node.address)
    specs = [large("huge", 900_000)] + [workload(f"small-{i}", 1) for i in range(5)]
    answers = await asyncio.gather(
        *(api.PlaceWorkload(place(spec)) for spec in specs), return_exceptions=True
    )
    refused = answers[0]
    assert isinstance(refused, grpc.aio.AioRpcError)
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert str(refused.details()).startswith("spec: ")
    assert "bytes serialized" in str(refused.details())
    placed = [a.workload.spec.name for a in answers[1:] if not isinstance(a, BaseException)]
    assert placed == [spec.name for spec in specs[1:]]
    names = {
        types_pb2.Workload.FromString(kv.value).spec.name
        for kv in (await store.range(keys.workloads_prefix())).kvs
    }
    assert names == set(placed)


async def test_a_proxy_loads_more_records_than_one_grpc_message_holds(
    etcd: EmbeddedEtcd, store: EtcdStore, keys: Keys, heartbeats: None
) -> None:
    """50 workloads of 100 KB are 5 MB, over gRPC's 4 MiB: one range could not list them (after
    one run of tools/bench/placement, its reservations alone were 4.5 MB)."""
    await store_large_records(store, keys, 50)
    async with node_in_process(store, keys, etcd.endpoint) as node:
        await asyncio.wait_for(leading(node, keys), timeout=15)
        assert len(node.cache.view.workloads) == 50
        found = await stub(node.address).GetWorkload(
            federation_pb2.GetWorkloadRequest(namespace="team-a", name="stored-49")
        )
        assert found.spec.template_json == large("stored-49", 100_000).template_json


async def test_a_page_of_workloads_stays_under_a_grpc_message(
    etcd: EmbeddedEtcd, store: EtcdStore, keys: Keys, heartbeats: None
) -> None:
    """A page of 50 workloads of 100 KB would be 5 MB, over the 4 MiB a client takes: it ends
    short, with a token to go on from."""
    await store_large_records(store, keys, 50)
    async with node_in_process(store, keys, etcd.endpoint) as node:
        await asyncio.wait_for(leading(node, keys), timeout=15)
        api = stub(node.address)
        pages: list[int] = []
        listed: list[str] = []
        token = ""
        while token or not pages:
            page = await api.ListWorkloads(
                federation_pb2.ListWorkloadsRequest(page_size=100, page_token=token)
            )
            pages.append(page.ByteSize())
            listed += [workload.spec.name for workload in page.workloads]
            token = page.next_page_token
        assert len(pages) > 1
        assert max(pages) <= MESSAGE_BYTES
        assert sorted(listed) == sorted(f"stored-{index}" for index in range(50))


async def store_large_records(store: EtcdStore, keys: Keys, count: int) -> None:
    """`count` workload records of 100 KB each, written as a leader would have."""
    for index in range(count):
        record = types_pb2.Workload(spec=large(f"stored-{index}", 100_000))
        await store.put(keys.workload("team-a", f"stored-{index}"), record.SerializeToString())
