"""Label and field selector parsing and matching."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.kubesim.errors import ApiError
from tools.kubesim.selectors import (
    parse_field_selector,
    parse_label_selector,
    selector_from_spec,
)

LABELS = {"app": "web", "tier": "front", "env": "prod"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("app!=db", True),
        ("missing!=x", True),
        ("app in (web,db)", True),
        ("app notin (web)", False),
        ("missing notin (web)", True),
        ("tier", True),
        ("!tier", False),
        ("!missing", True),
        ("app=web,env in (prod, staging),!debug", True),
        ("app=web,env=dev", False),
    ],
)
def test_label_selector(selector: str, matches: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is matches


@pytest.mark.parametrize("bad", ["app=we b", "in (a)", "a in (b c)", "=x"])
def test_malformed_label_selector_is_400(bad: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_label_selector(bad)
    assert err.value.code == 400


def test_selector_from_spec() -> None:
    spec = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}],
    }
    assert selector_from_spec(spec).matches(LABELS)
    assert not selector_from_spec({"matchLabels": {"app": "db"}}).matches(LABELS)


def test_field_selector() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"nodeName": "n1"},
           "status": {"phase": "Running"}}  # fmt: skip
    assert parse_field_selector("spec.nodeName=n1,status.phase!=Pending", "pods").matches(pod)
    assert not parse_field_selector("metadata.namespace=other", "pods").matches(pod)
    assert parse_field_selector("spec.nodeName=", "pods").matches({"metadata": {}}) is True
    node = {"metadata": {"name": "n"}, "spec": {"unschedulable": True}}
    assert parse_field_selector("spec.unschedulable=true", "nodes").matches(node)


def test_unsupported_field_is_400() -> None:
    with pytest.raises(ApiError) as err:
        parse_field_selector("spec.nodeName=x", "nodes")
    assert err.value.code == 400


label_values = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)


@given(st.dictionaries(label_values, label_values, max_size=5), label_values, label_values)
def test_equality_and_inequality_are_complements(
    labels: dict[str, str], key: str, value: str
) -> None:
    eq = parse_label_selector(f"{key}={value}").matches(labels)
    ne = parse_label_selector(f"{key}!={value}").matches(labels)
    assert eq != ne
