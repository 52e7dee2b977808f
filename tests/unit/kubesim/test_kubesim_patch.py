"""JSON patch, merge patch and strategic merge patch."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.kubesim.errors import ApiError
from tools.kubesim.patch import apply_patch, json_patch, merge_patch, strategic_merge

DEPLOYMENT = {
    "metadata": {"name": "d", "labels": {"a": "1"}, "finalizers": ["x"]},
    "spec": {
        "replicas": 1,
        "template": {
            "spec": {
                "containers": [
                    {"name": "app", "image": "nginx:1", "env": [{"name": "A", "value": "1"}]},
                    {"name": "side", "image": "busybox"},
                ]
            }
        },
    },
}


def test_merge_patch_replaces_lists_and_deletes_nulls() -> None:
    out = merge_patch(DEPLOYMENT, {"metadata": {"labels": None}, "spec": {"replicas": 3}})
    assert "labels" not in out["metadata"]
    assert out["spec"]["replicas"] == 3
    assert out["spec"]["template"] is DEPLOYMENT["spec"]["template"]


def test_strategic_merge_merges_containers_by_name() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "nginx:2", "env": [{"name": "B", "value": "2"}]},
        {"name": "new", "image": "redis"},
    ]}}}}  # fmt: skip
    out = strategic_merge(DEPLOYMENT, patch)
    containers = out["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app", "side", "new"]
    assert containers[0]["image"] == "nginx:2"
    assert [e["name"] for e in containers[0]["env"]] == ["A", "B"]


def test_strategic_directives() -> None:
    delete = {
        "spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}
    }
    out = strategic_merge(DEPLOYMENT, delete)
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["app"]
    replace = {"metadata": {"labels": {"$patch": "replace", "b": "2"}}}
    assert strategic_merge(DEPLOYMENT, replace)["metadata"]["labels"] == {"b": "2"}
    finalizers = {"metadata": {"finalizers": ["y"], "$deleteFromPrimitiveList/finalizers": ["x"]}}
    assert strategic_merge(DEPLOYMENT, finalizers)["metadata"]["finalizers"] == ["y"]
    ordered = {"$setElementOrder/containers": [{"name": "app"}], "metadata": {"labels": {"c": "3"}}}
    assert strategic_merge(DEPLOYMENT, ordered)["metadata"]["labels"] == {"a": "1", "c": "3"}


def test_json_patch_operations() -> None:
    ops = [
        {"op": "add", "path": "/metadata/labels/b", "value": "2"},
        {"op": "remove", "path": "/metadata/labels/a"},
        {"op": "replace", "path": "/spec/replicas", "value": 5},
        {"op": "copy", "from": "/spec/replicas", "path": "/metadata/annotations"},
        {"op": "move", "from": "/metadata/annotations", "path": "/metadata/moved"},
        {"op": "add", "path": "/metadata/finalizers/-", "value": "z"},
        {"op": "test", "path": "/spec/replicas", "value": 5},
    ]
    before = copy.deepcopy(DEPLOYMENT)
    out = json_patch(DEPLOYMENT, ops)
    assert before == DEPLOYMENT
    assert out["metadata"]["labels"] == {"b": "2"}
    assert out["metadata"]["moved"] == 5
    assert out["metadata"]["finalizers"] == ["x", "z"]
    with pytest.raises(ApiError) as err:
        json_patch(DEPLOYMENT, [{"op": "test", "path": "/spec/replicas", "value": 9}])
    assert err.value.code == 422


def test_unknown_media_type_is_415() -> None:
    with pytest.raises(ApiError) as err:
        apply_patch("application/apply-patch+yaml", DEPLOYMENT, {})
    assert err.value.code == 415


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=10,
)
docs = st.dictionaries(st.text(max_size=3), json_values, max_size=4)


@given(docs, docs)
def test_merge_patch_is_idempotent_and_pure(
    doc: dict[str, object], patch: dict[str, object]
) -> None:
    before = copy.deepcopy(doc)
    once = merge_patch(doc, patch)
    assert merge_patch(once, patch) == once
    assert doc == before
