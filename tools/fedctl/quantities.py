"""Kubernetes resource quantities: parse `500m`, `2`, `1.5`, `512Mi`, `1G`, `1e3` and print
them back in the units a reader expects (cores, Gi)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^([+]?[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


class QuantityError(ValueError):
    """Not a Kubernetes quantity, or not a sensible one for the field."""


def parse(text: str) -> Decimal:
    """The quantity's value in base units (cores, bytes)."""
    match = _QUANTITY.match(text.strip())
    if match is None or match.group(2) not in _SUFFIXES:
        raise QuantityError(f"{text!r} is not a Kubernetes quantity (e.g. 500m, 2, 512Mi, 1G)")
    number, suffix = match.groups()
    try:
        value = Decimal(number) * _SUFFIXES[suffix]
    except InvalidOperation as error:
        raise QuantityError(f"{text!r} is not a Kubernetes quantity") from error
    return value


def cpu_millis(text: str) -> int:
    """CPU in millicores: `500m` -> 500, `2` -> 2000; rounds up like Kubernetes."""
    millis = _ceil(parse(text) * 1000)
    if millis <= 0:
        raise QuantityError(f"cpu {text!r} must be more than 0")
    return millis


def memory_bytes(text: str) -> int:
    """Memory in bytes: `512Mi` -> 536870912, `1G` -> 1000000000."""
    value = _ceil(parse(text))
    if value <= 0:
        raise QuantityError(f"memory {text!r} must be more than 0")
    return value


def format_cpu(millis: int) -> str:
    """Millicores as cores for tables: 250 -> `0.25`, 32000 -> `32`."""
    return f"{millis / 1000:.2f}".rstrip("0").rstrip(".")


def format_memory(value: int) -> str:
    """Bytes in the largest binary unit that keeps one decimal: `1.5Gi`, `512Mi`."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = int(_SUFFIXES[suffix])
        if abs(value) >= unit:
            return f"{value / unit:.1f}".removesuffix(".0") + suffix
    return str(value)


def format_cpu_quantity(millis: int) -> str:
    """Millicores as a Kubernetes quantity: 500 -> `500m`, 2000 -> `2`."""
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def format_memory_quantity(value: int) -> str:
    """Bytes as an exact Kubernetes quantity: 536870912 -> `512Mi`."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = int(_SUFFIXES[suffix])
        if value and value % unit == 0:
            return f"{value // unit}{suffix}"
    return str(value)


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding="ROUND_CEILING"))
