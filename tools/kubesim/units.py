"""Kubernetes resource quantities (cpu in millicores, memory in bytes) and timestamps."""

from __future__ import annotations

import functools
import re
import time
from typing import Any

_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")
_SUFFIX = {
    "": 1.0,
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}


def parse_quantity(value: Any) -> float:
    """A quantity as a float in base units; malformed values count as zero."""
    if isinstance(value, int | float):
        return float(value)
    return _parse_text(str(value))


@functools.lru_cache(maxsize=1024)
def _parse_text(value: str) -> float:
    """Quantities repeat (every pod of a template asks the same), so parses are cached."""
    match = _QUANTITY.match(value.strip())
    if not match or match.group(2) not in _SUFFIX:
        return 0.0
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def milli_cpu(value: Any) -> int:
    return round(parse_quantity(value) * 1000)


def memory_bytes(value: Any) -> int:
    return round(parse_quantity(value))


def format_milli_cpu(milli: float) -> str:
    return f"{round(milli)}m"


def format_nano_cpu(milli: float) -> str:
    return f"{round(milli * 1_000_000)}n"


def format_memory_ki(value: float) -> str:
    return f"{round(value / 1024)}Ki"


@functools.lru_cache(maxsize=4096)
def _rfc3339_second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))


def rfc3339(epoch: float) -> str:
    return _rfc3339_second(int(epoch))


def now_rfc3339() -> str:
    return rfc3339(time.time())


def pod_requests(spec: dict[str, Any]) -> tuple[int, int]:
    """(milli-cpu, bytes) a pod requests: the sum over containers, init containers as a max."""
    cpu = mem = 0
    for container in spec.get("containers") or ():
        requests = (container.get("resources") or {}).get("requests") or {}
        cpu += milli_cpu(requests.get("cpu", 0))
        mem += memory_bytes(requests.get("memory", 0))
    for container in spec.get("initContainers") or ():
        requests = (container.get("resources") or {}).get("requests") or {}
        cpu = max(cpu, milli_cpu(requests.get("cpu", 0)))
        mem = max(mem, memory_bytes(requests.get("memory", 0)))
    return cpu, mem
