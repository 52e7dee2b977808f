"""Policies and request validation: errors name the offending field."""

from __future__ import annotations

import pytest
from unit.scheduler.scheduler_fleet import request

from fed.v1 import types_pb2
from proxy.scheduler.engine import Engine
from proxy.scheduler.model import PlacementRequest
from proxy.scheduler.policy import (
    FilterSpec,
    HealthArgs,
    NoArgs,
    Policy,
    PolicyError,
    ScoreSpec,
    policy_from_mapping,
)
from proxy.scheduler.registry import default_registry

ENGINE = Engine()


def bad_policy(policy: Policy) -> str:
    with pytest.raises(PolicyError) as error:
        Engine([policy])
    return error.value.field


def test_policy_validation_names_the_field() -> None:
    assert bad_policy(Policy(default_overcommit=0)) == "policies[default].default_overcommit"
    assert bad_policy(Policy(filters=(FilterSpec("nope"),))) == "policies[default].filters[0].name"
    assert (
        bad_policy(Policy(scores=(ScoreSpec("health", -1.0, HealthArgs()),)))
        == "policies[default].scores[0].weight"
    )
    assert (
        bad_policy(Policy(scores=(ScoreSpec("health", 1.0, NoArgs()),)))
        == "policies[default].scores[0].args"
    )
    assert (
        bad_policy(Policy(scores=(ScoreSpec("health", 1.0, HealthArgs(bad_latency_ms=1.0)),)))
        == "policies[default].scores[0].args.bad_latency_ms"
    )
    assert (
        bad_policy(Policy(filters=(FilterSpec("fit"), FilterSpec("fit"))))
        == "policies[default].filters[1].name"
    )
    assert bad_policy(Policy(filters=(FilterSpec("fit"),))) == "policies[default].filters"


def test_policy_from_settings() -> None:
    data = {
        "filters": ["cluster_state", "fit"],
        "scores": {"health": {"weight": 3, "args": {"bad_latency_ms": 500}}, "steadiness": {}},
        "default_overcommit": 1.2,
    }
    policy = policy_from_mapping("batch", data, default_registry())
    assert [spec.name for spec in policy.filters] == ["cluster_state", "fit"]
    assert policy.scores == (
        ScoreSpec("health", 3.0, HealthArgs(bad_latency_ms=500.0)),
        ScoreSpec("steadiness", 1.0),
    )
    assert policy.default_overcommit == 1.2


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"filters": 3}, "policies[p].filters"),
        ({"scores": {"health": {"args": {"slow": 1}}}}, "policies[p].scores[health].args.slow"),
        ({"scores": {"health": {"weight": "x"}}}, "policies[p].scores[health].weight"),
        ({"scores": {"magic": {}}}, "policies[p].scores[magic]"),
    ],
)
def test_policy_from_settings_names_the_bad_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(PolicyError) as error:
        policy_from_mapping("p", data, default_registry())
    assert error.value.field == field


def invalid(item: PlacementRequest) -> str:
    with pytest.raises(PolicyError) as error:
        ENGINE.validate(item)
    return error.value.field


def expression(operator: str, values: list[str]) -> types_pb2.LabelSelector:
    return types_pb2.LabelSelector(
        match_expressions=[
            types_pb2.LabelSelectorRequirement(key="k", operator=operator, values=values)
        ]
    )


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (request(-1), "spec.replicas"),
        (request(1, cpu=-5), "spec.resources.cpu_millis"),
        (request(1, name="nope"), "spec.policy.name"),
        (request(1, weights={"magic": 1.0}), "spec.policy.weights[magic]"),
        (request(1, weights={"health": -1.0}), "spec.policy.weights[health]"),
        (
            request(1, cluster_selector=expression("Near", ["x"])),
            "spec.policy.cluster_selector.match_expressions[0].operator",
        ),
        (
            request(1, cluster_selector=expression("In", [])),
            "spec.policy.cluster_selector.match_expressions[0].values",
        ),
        (
            request(1, cluster_selector=expression("Exists", ["x"])),
            "spec.policy.cluster_selector.match_expressions[0].values",
        ),
        (
            request(1, tolerations=[types_pb2.Toleration(key="k", operator="Maybe")]),
            "spec.policy.tolerations[0].operator",
        ),
        (
            request(1, tolerations=[types_pb2.Toleration(operator="Equal", value="v")]),
            "spec.policy.tolerations[0].operator",
        ),
        (
            request(1, tolerations=[types_pb2.Toleration(key="k", effect="Sometimes")]),
            "spec.policy.tolerations[0].effect",
        ),
        (request(1, min_clusters=3, max_clusters=2), "spec.policy.min_clusters"),
        (request(1, per_cluster_max=-1), "spec.policy.per_cluster_max"),
        (request(1, gang=True, allow_partial=True), "spec.policy.allow_partial"),
        (
            request(1, spread=types_pb2.SpreadConstraint(topology="rack")),
            "spec.policy.spread.topology",
        ),
        (
            request(1, spread=types_pb2.SpreadConstraint(max_skew=1)),
            "spec.policy.spread.max_skew",
        ),
    ],
)
def test_request_validation_names_the_field(item: PlacementRequest, field: str) -> None:
    assert invalid(item) == field


def test_a_valid_request_passes() -> None:
    ENGINE.validate(request(3, weights={"health": 2.0}, regions=["eu"], per_cluster_max=2))
