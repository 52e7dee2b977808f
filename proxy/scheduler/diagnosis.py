"""Why a request could not be (fully) placed: per-cluster filter failures and division limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from proxy.scheduler.status import Status


@dataclass(init=False, unsafe_hash=True)
class Diagnosis:
    """Each rejected cluster's failing status, plus what limited the division."""

    rejected: Final[Mapping[str, Status]]
    division: Final[tuple[str, ...]]

    def __init__(self, rejected: Mapping[str, Status], division: tuple[str, ...] = ()) -> None:
        self.rejected = rejected
        self.division = division

    def reasons(self) -> list[str]:
        """A readable list, one line per cluster then the division's limits (RESOURCE_EXHAUSTED)."""
        lines = [
            f"{cluster}: {status.plugin}: {status.message()}"
            for cluster, status in sorted(self.rejected.items())
        ]
        return lines + list(self.division)


EMPTY = Diagnosis({})
