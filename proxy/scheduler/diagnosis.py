"""Why a request could not be (fully) placed: per-cluster filter failures and division limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from proxy.scheduler.status import Status


@dataclass(frozen=True)
class Diagnosis:
    """Each rejected cluster's failing status, plus what limited the division."""

    rejected: Mapping[str, Status]
    division: tuple[str, ...] = ()

    def reasons(self) -> list[str]:
        """A readable list, one line per cluster then the division's limits (RESOURCE_EXHAUSTED)."""
        lines = [
            f"{cluster}: {status.plugin}: {status.message()}"
            for cluster, status in sorted(self.rejected.items())
        ]
        return lines + list(self.division)


EMPTY = Diagnosis({})
