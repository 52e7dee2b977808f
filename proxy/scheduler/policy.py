"""Scheduling policies: named, ordered plugin sets with weights and typed arguments.

Defaults live here; validation names the offending field so the proxy can answer
INVALID_ARGUMENT with it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from proxy.scheduler.resources import Quantity


class PolicyError(ValueError):
    """An invalid policy or request field; `field` is its path, e.g. policy.per_cluster_max."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class NoArgs:
    """For plugins without arguments."""

    def validate(self, path: str) -> None:
        return None


@dataclass(frozen=True)
class HealthArgs:
    """Latency at or below `good_latency_ms` scores full, at `bad_latency_ms` zero; likewise
    the API error rate from 0 to `bad_error_rate`."""

    good_latency_ms: float = 100.0
    bad_latency_ms: float = 2000.0
    bad_error_rate: float = 0.1

    def validate(self, path: str) -> None:
        if not 0 <= self.good_latency_ms < self.bad_latency_ms:
            raise PolicyError(f"{path}.bad_latency_ms", "must exceed good_latency_ms >= 0")
        if not 0 < self.bad_error_rate <= 1:
            raise PolicyError(f"{path}.bad_error_rate", "must be in (0, 1]")


@dataclass(frozen=True)
class HotspotArgs:
    """How much the recent usage peak counts against the share of hot nodes (0..1)."""

    peak_weight: float = 0.5

    def validate(self, path: str) -> None:
        if not 0 <= self.peak_weight <= 1:
            raise PolicyError(f"{path}.peak_weight", "must be in [0, 1]")


PluginArgs = NoArgs | HealthArgs | HotspotArgs


@dataclass(frozen=True)
class FilterSpec:
    name: str
    args: PluginArgs = field(default_factory=NoArgs)


@dataclass(frozen=True)
class ScoreSpec:
    name: str
    weight: float = 1.0
    args: PluginArgs = field(default_factory=NoArgs)


DEFAULT_FILTERS = (
    FilterSpec("cluster_state"),
    FilterSpec("taint_toleration"),
    FilterSpec("cluster_selector"),
    FilterSpec("topology_affinity"),
    FilterSpec("fit"),
)
DEFAULT_SCORES = (
    ScoreSpec("free_capacity", 1.0),
    ScoreSpec("balanced", 1.0),
    ScoreSpec("hotspot", 1.0, HotspotArgs()),
    ScoreSpec("fragmentation", 1.0),
    ScoreSpec("health", 1.0, HealthArgs()),
    ScoreSpec("locality", 2.0),
    ScoreSpec("steadiness", 2.0),
    ScoreSpec("taint_toleration", 1.0),
)
DEFAULT_SHAPE_GRID = Quantity(cpu_millis=10, memory_bytes=1 << 20)


@dataclass(frozen=True)
class Policy:
    """A named plugin set. `shape_grid` rounds shapes up to form equivalence classes."""

    name: str = "default"
    filters: tuple[FilterSpec, ...] = DEFAULT_FILTERS
    scores: tuple[ScoreSpec, ...] = DEFAULT_SCORES
    default_overcommit: float = 1.0
    shape_grid: Quantity = DEFAULT_SHAPE_GRID

    def weights(self, overrides: Mapping[str, float]) -> tuple[tuple[str, float], ...]:
        """Score plugin weights in order, with a request's overrides applied."""
        return tuple((spec.name, overrides.get(spec.name, spec.weight)) for spec in self.scores)


class PluginCatalogue(Protocol):
    """What validation needs from the registry: each plugin's argument type."""

    def filter_args(self, name: str) -> type[PluginArgs] | None: ...

    def score_args(self, name: str) -> type[PluginArgs] | None: ...


REQUIRED_FILTERS = ("cluster_state", "fit")
"""Filters every policy keeps: cordons and capacity are not a matter of taste."""


def validate_policy(policy: Policy, catalogue: PluginCatalogue) -> None:
    """Raise PolicyError naming the first invalid field of the policy."""
    path = f"policies[{policy.name}]"
    if not policy.name:
        raise PolicyError(f"{path}.name", "must not be empty")
    if not math.isfinite(policy.default_overcommit) or policy.default_overcommit <= 0:
        raise PolicyError(f"{path}.default_overcommit", "must be a positive number")
    for index, spec in enumerate(policy.filters):
        _check_args(f"{path}.filters[{index}]", spec.args, catalogue.filter_args(spec.name))
    for index, score in enumerate(policy.scores):
        where = f"{path}.scores[{index}]"
        _check_args(where, score.args, catalogue.score_args(score.name))
        check_weight(f"{where}.weight", score.weight)
    _check_unique(f"{path}.filters", [spec.name for spec in policy.filters])
    _check_unique(f"{path}.scores", [spec.name for spec in policy.scores])
    named = {spec.name for spec in policy.filters}
    missing = [name for name in REQUIRED_FILTERS if name not in named]
    if missing:
        raise PolicyError(
            f"{path}.filters",
            f"must include {', '.join(missing)}: no policy may place on cordoned or removed "
            "clusters, or past a cluster's capacity",
        )


def check_weight(path: str, weight: float) -> None:
    if not math.isfinite(weight) or weight < 0:
        raise PolicyError(path, "must be a finite number >= 0")


def _check_args(path: str, args: PluginArgs, expected: type[PluginArgs] | None) -> None:
    if expected is None:
        raise PolicyError(f"{path}.name", "unknown plugin")
    if not isinstance(args, expected):
        raise PolicyError(f"{path}.args", f"expected {expected.__name__}")
    args.validate(f"{path}.args")


def _check_unique(path: str, names: list[str]) -> None:
    for index, name in enumerate(names):
        if name in names[:index]:
            raise PolicyError(f"{path}[{index}].name", f"duplicate plugin {name}")


_POLICY_KEYS = frozenset({"filters", "scores", "default_overcommit"})


def policy_from_mapping(
    name: str, data: Mapping[str, object], catalogue: PluginCatalogue
) -> Policy:
    """Build and validate a policy from settings, e.g.
    `{"filters": ["cluster_state", "fit"], "scores": {"health": {"weight": 2, "args": {...}}},
    "default_overcommit": 1.2}`; omitted keys keep the defaults."""
    path = f"policies[{name}]"
    for key in data:
        if key not in _POLICY_KEYS:
            raise PolicyError(
                f"{path}.{key}", f"unknown key; expected one of {sorted(_POLICY_KEYS)}"
            )
    base = Policy(name=name)
    filters = base.filters
    if "filters" in data:
        filters = tuple(
            FilterSpec(item, _args(f"{path}.filters[{item}]", catalogue.filter_args(item), {}))
            for item in _strings(f"{path}.filters", data["filters"])
        )
    scores = base.scores
    if "scores" in data:
        scores = tuple(
            _score_spec(f"{path}.scores[{key}]", key, value, catalogue)
            for key, value in _mapping(f"{path}.scores", data["scores"]).items()
        )
    overcommit = _number(f"{path}.default_overcommit", data.get("default_overcommit", 1.0))
    policy = Policy(name, filters, scores, overcommit)
    validate_policy(policy, catalogue)
    return policy


def _score_spec(path: str, name: str, value: object, catalogue: PluginCatalogue) -> ScoreSpec:
    if catalogue.score_args(name) is None:
        raise PolicyError(path, "unknown plugin")
    item = _mapping(path, {} if value is None else value)  # `health:` alone in YAML
    for key in item:
        if key not in ("weight", "args"):
            raise PolicyError(f"{path}.{key}", "unknown key; expected weight or args")
    weight = _number(f"{path}.weight", item.get("weight", 1.0))
    check_weight(f"{path}.weight", weight)
    raw = _mapping(f"{path}.args", item.get("args") or {})
    return ScoreSpec(name, weight, _args(f"{path}.args", catalogue.score_args(name), raw))


def _args(path: str, kind: type[PluginArgs] | None, raw: Mapping[str, object]) -> PluginArgs:
    if kind is None:
        raise PolicyError(path, "unknown plugin")
    names = {item.name for item in dataclasses.fields(kind)}
    for key in raw:
        if key not in names:
            raise PolicyError(f"{path}.{key}", "unknown argument")
    return kind(**{key: _number(f"{path}.{key}", value) for key, value in raw.items()})


def _mapping(path: str, value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise PolicyError(path, "must be a mapping")
    return value


def _strings(path: str, value: object) -> list[str]:
    """A list, or a comma-separated string (as environment variables and --set give it)."""
    if isinstance(value, str):
        value = [item.strip() for item in value.split(",") if item.strip()]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise PolicyError(path, "must be a list of plugin names")
    return value


def _number(path: str, value: object) -> float:
    """A number, or a string holding one (as environment variables and --set give it)."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise PolicyError(path, "must be a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyError(path, "must be a number")
    return float(value)
