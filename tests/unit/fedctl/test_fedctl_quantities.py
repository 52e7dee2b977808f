"""Kubernetes quantities as fedctl reads and prints them."""

from __future__ import annotations

import pytest

from tools.fedctl.quantities import (
    QuantityError,
    cpu_millis,
    format_cpu,
    format_cpu_quantity,
    format_memory,
    format_memory_quantity,
    memory_bytes,
)


@pytest.mark.parametrize(
    ("text", "millis"),
    [("500m", 500), ("2", 2000), ("1.5", 1500), ("0.1", 100), ("1500m", 1500), ("1e3m", 1000),
     ("0.0001", 1), ("+3", 3000)],
)  # fmt: skip
def test_cpu(text: str, millis: int) -> None:
    assert cpu_millis(text) == millis


@pytest.mark.parametrize(
    ("text", "size"),
    [("512Mi", 512 << 20), ("1Gi", 1 << 30), ("1G", 10**9), ("128974848", 128974848),
     ("129e6", 129 * 10**6), ("1.5Gi", 3 << 29), ("64k", 64000), ("1Ki", 1024)],
)  # fmt: skip
def test_memory(text: str, size: int) -> None:
    assert memory_bytes(text) == size


@pytest.mark.parametrize("text", ["5x", "", "Mi", "1 Gi", "-1", "1.2.3", "0", "0m", "1gi"])
def test_bad_quantities(text: str) -> None:
    with pytest.raises(QuantityError):
        cpu_millis(text)
    with pytest.raises(QuantityError):
        memory_bytes(text)


def test_formats() -> None:
    assert [format_cpu(v) for v in (250, 500, 32000, 0)] == ["0.25", "0.5", "32", "0"]
    assert [format_cpu_quantity(v) for v in (250, 2000)] == ["250m", "2"]
    assert [format_memory(v) for v in (512 << 20, 3 << 29, 0)] == ["512Mi", "1.5Gi", "0"]
    assert [format_memory_quantity(v) for v in (512 << 20, 1 << 30, 1000)] == [
        "512Mi",
        "1Gi",
        "1000",
    ]
