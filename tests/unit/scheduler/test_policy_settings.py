"""Named policies in the proxy's settings: decoded at load, errors naming the field, reload."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from unit.scheduler.scheduler_fleet import Fake, fleet, request

from common.settings import SettingsError, load_settings
from proxy.ledger import Ledger
from proxy.scheduler.engine import Engine
from proxy.scheduler.policy import (
    DEFAULT_SCORES,
    HealthArgs,
    Policy,
    PolicyError,
    ScoreSpec,
)
from proxy.settings import ProxySettings


def load(tmp_path: Path, document: object, overrides: tuple[str, ...] = ()) -> ProxySettings:
    path = tmp_path / "proxy.yaml"
    path.write_text(yaml.safe_dump(document))
    return load_settings(ProxySettings, path=path, env={}, overrides=overrides)


def test_named_policies_are_decoded_from_the_yaml(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        {
            "proxy": {"batch_max": 64},
            "policies": {
                "batch": {
                    "filters": ["cluster_state", "fit"],
                    "scores": {"health": {"weight": 3, "args": {"bad_latency_ms": 500}}},
                    "default_overcommit": 1.5,
                },
                "lean": {"scores": {"free_capacity": None}},
                "plain": {},
            },
        },
    )
    batch, lean, plain = settings.scheduling_policies()
    assert [spec.name for spec in batch.filters] == ["cluster_state", "fit"]
    assert batch.scores == (ScoreSpec("health", 3.0, HealthArgs(bad_latency_ms=500.0)),)
    assert batch.default_overcommit == 1.5
    assert lean.scores == (ScoreSpec("free_capacity", 1.0),)
    assert plain == Policy(name="plain")
    assert settings.proxy.batch_max == 64


def test_policies_can_come_from_flags_and_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        ProxySettings,
        env={"FED_POLICIES__LEAN__DEFAULT_OVERCOMMIT": "1.5"},
        overrides=[
            "policies.lean.filters=cluster_state, fit",
            "policies.lean.scores.health.weight=4",
        ],
    )
    (lean,) = settings.scheduling_policies()
    assert [spec.name for spec in lean.filters] == ["cluster_state", "fit"]
    assert lean.scores == (ScoreSpec("health", 4.0, HealthArgs()),)
    assert lean.default_overcommit == 1.5


def test_no_policies_is_the_default(tmp_path: Path) -> None:
    settings = load(tmp_path, {})
    assert settings.policies == {}
    assert settings.scheduling_policies() == ()
    assert Engine(settings.scheduling_policies()).policies["default"].scores == DEFAULT_SCORES


@pytest.mark.parametrize(
    ("policies", "named"),
    [
        ({"b": {"scores": {"health": {"weight": -1}}}}, "policies[b].scores[health].weight"),
        ({"b": {"scores": {"health": {"weight": "heavy"}}}}, "policies[b].scores[health].weight"),
        ({"b": {"scores": {"health": {"wieght": 1}}}}, "policies[b].scores[health].wieght"),
        ({"b": {"scores": {"health": {"args": {"slow": 1}}}}}, "policies[b].scores[health].args"),
        ({"b": {"scores": {"magic": {}}}}, "policies[b].scores[magic]"),
        ({"b": {"filters": ["cluster_state", "magic"]}}, "policies[b].filters[magic]"),
        ({"b": {"filters": ["fit", "fit"]}}, "policies[b].filters[1].name"),
        ({"b": {"filters": ["fit", "taint_toleration"]}}, "policies[b].filters: must include"),
        ({"b": {"filters": ["cluster_state"]}}, "must include fit: no policy may place"),
        ({"b": {"scores": {"hotspot": {"args": {"peak_weight": 2}}}}}, "peak_weight"),
        ({"b": {"default_overcommit": 0}}, "policies[b].default_overcommit"),
        ({"b": {"scorse": {}}}, "policies[b].scorse"),
        ({"b": ["fit"]}, "policies.b"),
        (["b"], "policies"),
    ],
)
def test_a_bad_policy_fails_the_load_naming_the_field(
    tmp_path: Path, policies: object, named: str
) -> None:
    with pytest.raises(SettingsError) as error:
        load(tmp_path, {"policies": policies})
    assert named in str(error.value)


def test_set_policies_swaps_them_all_or_none() -> None:
    engine = Engine()
    snapshot = fleet(Fake("a"), Fake("b"))
    with pytest.raises(PolicyError):
        engine.validate(request(1, name="lean"))
    engine.set_policies([Policy(name="lean", scores=(ScoreSpec("free_capacity", 2.0),))])
    assert sorted(engine.policies) == ["default", "lean"]
    assert engine.schedule(snapshot, Ledger(), request(1, name="lean")).ok
    with pytest.raises(PolicyError):
        engine.set_policies([Policy(name="other"), Policy(name="bad", default_overcommit=-1)])
    assert sorted(engine.policies) == ["default", "lean"], "a bad set changes nothing"
    engine.set_policies([])
    with pytest.raises(PolicyError) as error:
        engine.validate(request(1, name="lean"))
    assert error.value.field == "spec.policy.name"


@pytest.mark.parametrize("field", ["compaction_interval_s", "drift_check_period_s"])
def test_a_negative_leader_period_is_refused_by_name(field: str) -> None:
    with pytest.raises(SettingsError, match=rf"proxy\.{field}"):
        load_settings(ProxySettings, env={}, overrides=(f"proxy.{field}=-1",))
    off = load_settings(ProxySettings, env={}, overrides=(f"proxy.{field}=0",))
    assert getattr(off.proxy, field) == 0
