"""Validation of a placement request; errors name the WorkloadSpec field (INVALID_ARGUMENT)."""

from __future__ import annotations

from collections.abc import Mapping

from fed.v1 import types_pb2
from proxy.scheduler.model import PlacementRequest
from proxy.scheduler.policy import Policy, PolicyError, check_weight
from proxy.scheduler.resources import DIMENSIONS

OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})
TOPOLOGIES = frozenset({"", "region", "zone", "cluster"})
EFFECTS = frozenset({"", "NoSchedule", "PreferNoSchedule", "NoExecute"})
TOLERATION_OPERATORS = frozenset({"", "Equal", "Exists"})


def resolve_policy(request: PlacementRequest, policies: Mapping[str, Policy]) -> Policy:
    """The request's named policy (empty name: the default one)."""
    return resolve_named(request.policy, policies)


def resolve_named(message: types_pb2.PlacementPolicy, policies: Mapping[str, Policy]) -> Policy:
    """The named policy a PlacementPolicy message asks for (empty name: the default one)."""
    policy = policies.get(message.name or "default")
    if policy is None:
        raise PolicyError("spec.policy.name", f"unknown policy {message.name!r}")
    return policy


def validate_request(request: PlacementRequest, policies: Mapping[str, Policy]) -> None:
    """Raise PolicyError naming the first invalid field."""
    check_values(request)
    check_policy(request.policy, resolve_named(request.policy, policies))


def check_values(request: PlacementRequest) -> None:
    """The request's own numbers: replicas and the per-replica shape."""
    if request.replicas < 0:
        raise PolicyError("spec.replicas", "must be >= 0")
    for name, value in zip(DIMENSIONS, request.shape.values(), strict=True):
        if value < 0:
            raise PolicyError(f"spec.resources.{name}", "must be >= 0")


def check_policy(message: types_pb2.PlacementPolicy, policy: Policy) -> None:
    """The PlacementPolicy message, against the named policy it resolved to."""
    _check_weights(message, policy)
    _check_selector(message.cluster_selector)
    _check_tolerations(message)
    _check_counts(message)
    _check_spread(message.spread)


def _check_weights(message: types_pb2.PlacementPolicy, policy: Policy) -> None:
    known = {spec.name for spec in policy.scores}
    for name, weight in sorted(message.weights.items()):
        path = f"spec.policy.weights[{name}]"
        if name not in known:
            raise PolicyError(path, f"policy {policy.name} has no score plugin {name}")
        check_weight(path, weight)


def _check_selector(selector: types_pb2.LabelSelector) -> None:
    for index, item in enumerate(selector.match_expressions):
        path = f"spec.policy.cluster_selector.match_expressions[{index}]"
        if not item.key:
            raise PolicyError(f"{path}.key", "must not be empty")
        if item.operator not in OPERATORS:
            raise PolicyError(f"{path}.operator", f"must be one of {sorted(OPERATORS)}")
        needs_values = item.operator in {"In", "NotIn"}
        if needs_values != bool(item.values):
            wanted = "must not be empty" if needs_values else "must be empty"
            raise PolicyError(f"{path}.values", f"{wanted} for {item.operator}")


def _check_tolerations(policy: types_pb2.PlacementPolicy) -> None:
    for index, item in enumerate(policy.tolerations):
        path = f"spec.policy.tolerations[{index}]"
        if item.operator not in TOLERATION_OPERATORS:
            raise PolicyError(f"{path}.operator", "must be Equal or Exists")
        if item.operator == "Exists" and item.value:
            raise PolicyError(f"{path}.value", "must be empty for Exists")
        if not item.key and item.operator != "Exists":
            raise PolicyError(f"{path}.operator", "must be Exists when key is empty")
        if item.effect not in EFFECTS:
            raise PolicyError(f"{path}.effect", f"must be one of {sorted(EFFECTS - {''})}")


def _check_counts(policy: types_pb2.PlacementPolicy) -> None:
    for name in ("min_clusters", "max_clusters", "per_cluster_min", "per_cluster_max"):
        if getattr(policy, name) < 0:
            raise PolicyError(f"spec.policy.{name}", "must be >= 0")
    if policy.max_clusters and policy.min_clusters > policy.max_clusters:
        raise PolicyError("spec.policy.min_clusters", "must not exceed max_clusters")
    if policy.per_cluster_max and policy.per_cluster_min > policy.per_cluster_max:
        raise PolicyError("spec.policy.per_cluster_min", "must not exceed per_cluster_max")
    if policy.gang and policy.allow_partial:
        raise PolicyError("spec.policy.allow_partial", "a gang is placed whole or not at all")
    if policy.max_unavailable < 0:
        raise PolicyError("spec.policy.max_unavailable", "must be >= 0")


def _check_spread(spread: types_pb2.SpreadConstraint) -> None:
    if spread.topology not in TOPOLOGIES:
        raise PolicyError("spec.policy.spread.topology", "must be region, zone or cluster")
    for name in ("max_skew", "min_groups"):
        value = getattr(spread, name)
        if value < 0:
            raise PolicyError(f"spec.policy.spread.{name}", "must be >= 0")
        if value and not spread.topology:
            raise PolicyError(f"spec.policy.spread.{name}", "needs spread.topology")
