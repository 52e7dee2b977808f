"""Flag values in kubectl's notation: labels `k=v`, taints `k=v:Effect`, files."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fed.v1 import types_pb2
from tools.fedctl.errors import CliError
from tools.fedctl.quantities import QuantityError, cpu_millis, memory_bytes

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def labels(items: tuple[str, ...], what: str = "label") -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"bad {what} {item!r}: expected key=value")
        found[key] = value
    return found


def taint(text: str) -> types_pb2.Taint:
    """`key=value:Effect` or `key:Effect`."""
    head, sep, effect = text.rpartition(":")
    if not sep or effect not in TAINT_EFFECTS:
        raise CliError(f"bad taint {text!r}: expected key[=value]:{'|'.join(TAINT_EFFECTS)}")
    key, _, value = head.partition("=")
    if not key:
        raise CliError(f"bad taint {text!r}: the key is empty")
    return types_pb2.Taint(key=key, value=value, effect=effect)


def read_text(path: str, what: str) -> str:
    try:
        return Path(path).read_text() if path != "-" else sys.stdin.read()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise CliError(f"cannot read {what} {path}: {reason}") from error


class QuantityType(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.3
    """A click parameter that takes a Kubernetes quantity and yields millicores or bytes."""

    def __init__(self, kind: str) -> None:
        self.name = f"{kind} quantity"
        self._convert = cpu_millis if kind == "cpu" else memory_bytes

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        if isinstance(value, int):
            return value
        try:
            return self._convert(str(value))
        except QuantityError as error:
            self.fail(str(error), param, ctx)


CPU = QuantityType("cpu")
MEMORY = QuantityType("memory")
