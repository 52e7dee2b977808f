"""The etcd key layout: built and parsed in one place, names that would escape refused."""

from __future__ import annotations

import pytest

from common.keys import InvalidKey, Keys


def test_layout_matches_the_architecture() -> None:
    keys = Keys("/fed")
    assert keys.leader(0xABC) == "/fed/leader/0000000000000abc"
    assert keys.cluster_spec("c1") == "/fed/clusters/c1/spec"
    assert keys.cluster_status("c1") == "/fed/clusters/c1/status"
    assert keys.workload("ns", "web") == "/fed/workloads/ns/web"
    assert keys.reservation("c1", "r1") == "/fed/reservations/c1/r1"
    assert keys.request("req-1") == "/fed/requests/req-1"
    assert keys.operation("op-1") == "/fed/operations/op-1"
    assert keys.assignment("w1") == "/fed/assignments/w1"
    assert keys.worker("w1") == "/fed/members/workers/w1"
    assert keys.proxy("p1") == "/fed/members/proxies/p1"


def test_the_shared_range_holds_every_key_but_the_writers_records() -> None:
    keys = Keys("/fed")
    start, end = keys.shared_range()
    shared = [
        keys.leader(1), keys.proxy("p"), keys.worker("w"), keys.assignment("w"),
        keys.cluster_spec("c"), keys.cluster_status("c"), keys.cluster_health("c"),
        keys.operation("o"),
    ]  # fmt: skip
    written = [keys.request("r"), keys.reservation("c", "r"), keys.workload("ns", "w")]
    assert all(start <= key < end for key in shared)
    assert all(key >= end and key.startswith(start) for key in written)


def test_keys_parse_back() -> None:
    keys = Keys("/x")
    assert keys.parse_cluster_key(keys.cluster_status("c9")) == ("c9", "status")
    assert keys.parse_workload_key(keys.workload("ns", "web")) == ("ns", "web")
    assert keys.parse_reservation_key(keys.reservation("c1", "r7")) == ("c1", "r7")
    assert keys.last_segment(keys.worker("w3"), keys.workers_prefix()) == "w3"


@pytest.mark.parametrize("bad", ["", "a/b"])
def test_names_that_would_escape_their_directory_are_refused(bad: str) -> None:
    with pytest.raises(InvalidKey):
        Keys().workload("ns", bad)


def test_prefix_of_one_federation_never_contains_another() -> None:
    assert not Keys("/fed2").workloads_prefix().startswith(Keys("/fed").workloads_prefix())
    with pytest.raises(InvalidKey):
        Keys("/fed/")
