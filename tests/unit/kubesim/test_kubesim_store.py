"""Store, registry semantics and watch fan-out without HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from tools.kubesim.errors import ApiError
from tools.kubesim.registry import DeleteOptions, Registry
from tools.kubesim.resources import NAMESPACES, PODS
from tools.kubesim.selectors import FieldSelector, LabelSelector, parse_label_selector
from tools.kubesim.store import Store
from tools.kubesim.watch import Watcher, WatchHub

NONE = LabelSelector()
NO_FIELDS = FieldSelector()


def registry(history: int = 100) -> Registry:
    reg = Registry(Store(history))
    reg.create(NAMESPACES, None, {"metadata": {"name": "default"}})
    return reg


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }


def test_resource_versions_are_shared_and_increasing() -> None:
    reg = registry()
    first = reg.create(PODS, "default", pod("a"))
    ns = reg.create(NAMESPACES, None, {"metadata": {"name": "other"}})
    second = reg.create(PODS, "other", pod("b"))
    assert first.rv < ns.rv < second.rv == reg.store.rv


def test_noop_update_does_not_write() -> None:
    reg = registry()
    entry = reg.create(PODS, "default", pod("a"))
    same = reg.patch(PODS, "default", "a", "application/merge-patch+json", {"metadata": {}})
    assert same is entry


def test_paging_with_snapshot_and_compaction() -> None:
    reg = registry(history=5)
    for i in range(6):
        reg.create(PODS, "default", pod(f"p{i}"))
    page = reg.list(PODS, "default", NONE, NO_FIELDS, limit=4)
    assert [e.meta["name"] for e in page.items] == ["p0", "p1", "p2", "p3"]
    assert page.remaining == 2
    reg.delete(PODS, "default", "p5", DeleteOptions())
    rest = reg.list(PODS, "default", NONE, NO_FIELDS, continue_token=page.continue_token)
    assert [e.meta["name"] for e in rest.items] == ["p4", "p5"]
    for i in range(6):
        reg.patch(PODS, "default", "p0", "application/merge-patch+json",
                  {"metadata": {"labels": {"i": str(i)}}})  # fmt: skip
    with pytest.raises(ApiError) as err:
        reg.list(PODS, "default", NONE, NO_FIELDS, continue_token=page.continue_token)
    assert err.value.code == 410


def test_watch_replay_and_selector_transitions() -> None:
    reg = registry()
    hub = WatchHub(reg.store)
    start = reg.store.rv
    reg.create(PODS, "default", pod("a", team="blue"))
    watcher = Watcher("pods", "default", parse_label_selector("team=blue"), NO_FIELDS)
    hub.open(watcher, start)
    reg.patch(PODS, "default", "a", "application/merge-patch+json",
              {"metadata": {"labels": {"team": "red"}}})  # fmt: skip
    reg.patch(PODS, "default", "a", "application/merge-patch+json",
              {"metadata": {"labels": {"team": "blue"}}})  # fmt: skip
    reg.delete(PODS, "default", "a", DeleteOptions())
    kinds = [line.split(b'"')[3].decode() for line in watcher.lines]
    assert kinds == ["ADDED", "DELETED", "ADDED", "DELETED"]


def test_watch_from_compacted_version_is_410() -> None:
    reg = registry(history=3)
    hub = WatchHub(reg.store)
    for i in range(5):
        reg.create(PODS, "default", pod(f"p{i}"))
    with pytest.raises(ApiError) as err:
        hub.open(Watcher("pods", None, NONE, NO_FIELDS), 1)
    assert err.value.code == 410


def test_owner_index_and_orphaning() -> None:
    reg = registry()
    owner = reg.create(NAMESPACES, None, {"metadata": {"name": "owner-ns"}})
    uid = owner.meta["uid"]
    child = pod("child")
    child["metadata"]["ownerReferences"] = [{"uid": uid, "kind": "X", "name": "o"}]
    reg.create(PODS, "default", child)
    assert reg.store.dependents[uid] == {("pods", "default/child")}
    reg.orphan(uid)
    assert uid not in reg.store.dependents
    assert "ownerReferences" not in reg.get(PODS, "default", "child").meta
