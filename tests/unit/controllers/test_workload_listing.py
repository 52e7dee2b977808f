"""Paged ListWorkloads over the view's kept key order: the pages a full sort would give."""

from __future__ import annotations

import asyncio
from random import Random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from unit.controllers.view_fakes import KEYS, UpdatedView

import proxy.service as service_module
from fed.v1 import federation_pb2, types_pb2
from proxy.service import FederationService
from proxy.settings import ProxySection
from proxy.view import FedView
from proxy.workload_order import WorkloadOrder


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("+-?"), st.integers(0, 30)), max_size=120))
def test_the_kept_order_is_the_sorted_keys_whatever_came_and_went(
    steps: list[tuple[str, int]],
) -> None:
    order, held = WorkloadOrder(), set[tuple[str, str]]()
    for step, number in steps:
        key = (f"ns{number % 3}", f"w{number}")
        if step == "+" and key not in held:
            order.add(key)
            held.add(key)
        elif step == "-" and key in held:
            order.remove(key)
            held.discard(key)
        elif step == "?":
            assert order.sorted_keys() == sorted(held)
    assert order.sorted_keys() == sorted(held)


def test_many_changes_at_once_are_merged_into_the_order() -> None:
    random, order = Random(5), WorkloadOrder()
    held = {(f"ns{number % 7}", f"w{number}") for number in range(500)}
    for key in held:
        order.add(key)
    assert order.sorted_keys() == sorted(held)
    gone = set(random.sample(sorted(held), 300))
    for key in gone:
        order.remove(key)
    back = set(random.sample(sorted(gone), 100))
    new = {(f"ns{number % 7}", f"w{number}") for number in range(500, 700)}
    for key in back | new:
        order.add(key)
    assert order.sorted_keys() == sorted(held - gone | back | new)


class Node:
    def __init__(self, cache: UpdatedView) -> None:
        self.cache = cache
        self.proxy_id = "p1"
        self.settings = ProxySection()


def _full_sort_listing(
    view: FedView, request: federation_pb2.ListWorkloadsRequest
) -> federation_pb2.ListWorkloadsResponse:
    """The listing as it was: every workload sorted, filtered, cut at the page size."""
    size = request.page_size or 500
    after = tuple(request.page_token.split("/", 1)) if request.page_token else ("", "")
    chosen = [
        (key, workload)
        for key, workload in sorted(view.workloads.items())
        if key > after
        and (not request.namespace or key[0] == request.namespace)
        and (
            not request.cluster
            or any(p.cluster == request.cluster for p in workload.placement.clusters)
        )
    ]
    page = chosen[:size]
    token = "/".join(page[-1][0]) if len(chosen) > size else ""
    return federation_pb2.ListWorkloadsResponse(
        workloads=[w for _, w in page], next_page_token=token
    )


def _apply(cache: UpdatedView, namespace: str, name: str, cluster: str | None) -> None:
    """Put the workload on `cluster`, or delete it with None."""
    key = KEYS.workload(namespace, name)
    if cluster is None:
        cache.delete(key)
        return
    workload = types_pb2.Workload(spec=types_pb2.WorkloadSpec(namespace=namespace, name=name))
    workload.placement.clusters.add(cluster=cluster, replicas=1)
    cache.put(key, workload)


async def _pages(
    service: FederationService, request: federation_pb2.ListWorkloadsRequest
) -> list[federation_pb2.ListWorkloadsResponse]:
    pages = [await service.ListWorkloads(request, None)]
    while pages[-1].next_page_token:
        request.page_token = pages[-1].next_page_token
        pages.append(await service.ListWorkloads(request, None))
    return pages


def test_pages_and_filters_match_a_full_sort_as_workloads_come_and_go() -> None:
    random, cache = Random(3), UpdatedView()
    service = FederationService(Node(cache))  # type: ignore[arg-type]
    for round_ in range(6):
        for _ in range(150):
            number = random.randrange(400)
            cluster = random.choice(["c1", "c2", "c3", None])
            _apply(cache, f"team-{number % 4}", f"w{number}", cluster)
        for namespace, cluster, size in (("", "", 7), ("team-1", "", 5), ("", "c2", 9),
                                         ("team-2", "c3", 4), ("", "", 0)):  # fmt: skip
            request = federation_pb2.ListWorkloadsRequest(
                namespace=namespace, cluster=cluster, page_size=size
            )
            paging = federation_pb2.ListWorkloadsRequest()
            paging.CopyFrom(request)
            pages = asyncio.run(_pages(service, paging))
            for page in pages:
                assert page == _full_sort_listing(cache.view, request), f"round {round_}"
                request.page_token = page.next_page_token


def test_a_sparse_filter_ends_pages_at_the_scan_limit_and_loses_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A page looks at SCAN_LIMIT workloads at most: with a filter few of them match, pages
    come short or empty, each with a token, and together they are the full listing."""
    monkeypatch.setattr(service_module, "SCAN_LIMIT", 11)
    random, cache = Random(8), UpdatedView()
    service = FederationService(Node(cache))  # type: ignore[arg-type]
    for number in range(300):
        _apply(cache, f"team-{number % 3}", f"w{number}", random.choice(["c1"] * 19 + ["c2"]))
    for namespace, size in (("", 4), ("team-1", 2), ("", 0)):
        request = federation_pb2.ListWorkloadsRequest(
            namespace=namespace, cluster="c2", page_size=size
        )
        full = _full_sort_listing(
            cache.view,
            federation_pb2.ListWorkloadsRequest(namespace=namespace, cluster="c2", page_size=300),
        )
        pages = asyncio.run(_pages(service, request))
        assert [w for page in pages for w in page.workloads] == list(full.workloads)
        assert any(len(page.workloads) < (size or 500) and page.next_page_token for page in pages)
        assert all(len(page.workloads) <= (size or 500) for page in pages)
