"""Fault injection state of one cluster and the fault command grammar."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from tools.kubesim.errors import ApiError

FAULTS = (
    "down",
    "up",
    "latency",
    "nodes-notready",
    "drop-watches",
    "error-rate",
    "forbid-creates",
    "clear",
)
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)?$")
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)%?$")


def parse_duration(text: str) -> float:
    """'200ms', '1.5s' or '0.2' (seconds) as seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"invalid duration {text!r} (use e.g. 200ms or 1.5s)")
    value = float(match.group(1))
    return value / 1000 if match.group(2) == "ms" else value


def parse_percent(text: str) -> float:
    """'30%' or '30' as the fraction 0.3."""
    match = _PERCENT.match(text.strip())
    if not match or float(match.group(1)) > 100:
        raise ValueError(f"invalid percentage {text!r} (use e.g. 30%)")
    return float(match.group(1)) / 100


@dataclass
class Fault:
    """One fault command: `name` from FAULTS and its argument (seconds or a fraction)."""

    name: str
    value: float = 0.0

    @classmethod
    def parse(cls, name: str, arg: str | None = None) -> Fault:
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; expected one of {', '.join(FAULTS)}")
        if name == "latency":
            return cls(name, parse_duration(_required(name, arg)))
        if name in ("nodes-notready", "error-rate"):
            return cls(name, parse_percent(_required(name, arg)))
        return cls(name)


def _required(name: str, arg: str | None) -> str:
    if arg is None:
        raise ValueError(f"fault {name} needs an argument")
    return arg


@dataclass
class FaultState:
    """What the request path consults: added latency, the injected error rate and whether
    creates are refused (403 Forbidden, as an exceeded quota or an admission rule answers)."""

    latency: float = 0.0
    error_rate: float = 0.0
    notready_fraction: float = 0.0
    down: bool = False
    forbid_creates: bool = False

    def check(self, method: str = "GET") -> None:
        """Raise the injected error for this request, if any (the latency is the server's
        to wait: most requests are answered without a task)."""
        if self.error_rate and random.random() < self.error_rate:
            raise ApiError(500, "kubesim: injected fault (error-rate)", "InternalError")
        if self.forbid_creates and method == "POST":
            raise ApiError(
                403,
                "creates are forbidden in this cluster: kubesim: injected fault (forbid-creates)",
                "Forbidden",
            )

    def describe(self) -> dict[str, object]:
        return {
            "down": self.down,
            "latency_ms": round(self.latency * 1000),
            "error_rate_pct": round(self.error_rate * 100, 2),
            "nodes_notready_pct": round(self.notready_fraction * 100, 2),
            "forbid_creates": self.forbid_creates,
        }
