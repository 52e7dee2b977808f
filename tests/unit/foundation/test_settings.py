"""The config loader: defaults < YAML < environment < flags, with errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.settings import CommonSettings, SettingsError, describe, load_settings


def test_defaults_load_without_any_source() -> None:
    settings = load_settings(CommonSettings, env={})
    assert settings.etcd.prefix == "/fed"
    assert settings.etcd.endpoints == []
    assert settings.election.ttl_s == 5


def test_yaml_then_environment_then_flags_override_in_order(tmp_path: Path) -> None:
    path = tmp_path / "fed.yaml"
    path.write_text("etcd:\n  prefix: /from-yaml\n  max_txn_ops: 64\nelection:\n  ttl_s: 9\n")
    settings = load_settings(
        CommonSettings,
        path=path,
        env={"FED_ETCD__PREFIX": "/from-env", "FED_ETCD__ENDPOINTS": "a:1, b:2", "HOME": "/x"},
        overrides=["etcd.prefix=/from-flag", "observability.log_format=text"],
    )
    assert settings.etcd.prefix == "/from-flag"
    assert settings.etcd.endpoints == ["a:1", "b:2"]
    assert settings.etcd.max_txn_ops == 64
    assert settings.election.ttl_s == 9
    assert settings.observability.log_format == "text"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["etcd.prefx=/x"], "etcd.prefx"),
        (["etcd.max_txn_ops=many"], "etcd.max_txn_ops"),
        (["election.ttl_s=1"], "election.ttl_s"),
        (["election.safety_margin_s=7"], "election.safety_margin_s"),
        (["etcd.snapshot_count=0"], "etcd.snapshot_count"),
        (["etcd.max_request_bytes=1000"], "etcd.max_request_bytes"),
        (["etcd=3"], "etcd"),
        (["no-equals-sign"], "no-equals-sign"),
    ],
)
def test_bad_values_name_the_key(overrides: list[str], named: str) -> None:
    with pytest.raises(SettingsError, match=named.replace(".", r"\.")):
        load_settings(CommonSettings, env={}, overrides=overrides)


def test_a_bad_yaml_file_is_a_settings_error(tmp_path: Path) -> None:
    path = tmp_path / "fed.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(SettingsError, match="mapping"):
        load_settings(CommonSettings, path=path, env={})


def test_every_setting_documents_its_unit_and_default() -> None:
    described = list(describe(CommonSettings))
    assert len(described) >= 10
    for name, _default, unit, why in described:
        assert unit, f"{name} has no unit"
        assert len(why) > 10, f"{name} does not say why its default"
