"""Plugin interfaces, modelled on the Kubernetes scheduler framework (Filter, Score, Normalise).

Reserve and Unreserve are the engine's own, on the ledger (see `proxy.ledger`).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from mypy_extensions import mypyc_attr

from proxy.scheduler.capacity import ClusterCapacity
from proxy.scheduler.model import ClusterView
from proxy.scheduler.resources import Quantity
from proxy.scheduler.selection import Selection
from proxy.scheduler.status import Status

MAX_SCORE = 100.0


@dataclass(init=False, unsafe_hash=True)
class PluginContext:
    """What plugins know about the request: the (quantised) shape, the selection and, for
    per-request plugins, the replicas the workload holds per cluster now."""

    shape: Final[Quantity]
    selection: Final[Selection]
    held: Final[Mapping[str, int]]

    def __init__(
        self, shape: Quantity, selection: Selection, held: Mapping[str, int] | None = None
    ) -> None:
        self.shape = shape
        self.selection = selection
        self.held = held if held is not None else {}


@dataclass(init=False, unsafe_hash=True)
class ClusterState:
    """A cluster and its capacity for new replicas (None: no status published)."""

    view: Final[ClusterView]
    capacity: Final[ClusterCapacity | None]

    def __init__(self, view: ClusterView, capacity: ClusterCapacity | None) -> None:
        self.view = view
        self.capacity = capacity

    @property
    def name(self) -> str:
        return self.view.name


@dataclass(init=False, unsafe_hash=True)
class Score:
    """A plugin's 0..100 score for one cluster and why."""

    value: Final[float]
    reason: Final[str]

    def __init__(self, value: float, reason: str) -> None:
        self.value = value
        self.reason = reason

    def clamped(self) -> Score:
        if 0.0 <= self.value <= MAX_SCORE:
            return self
        return Score(min(max(self.value, 0.0), MAX_SCORE), self.reason)


@mypyc_attr(allow_interpreted_subclasses=True)
class Plugin:
    """A named plugin; its arguments are given to its constructor. The bases are compiled
    (tools/native.py) and stay open to plugins that are not."""

    name: str = ""


@mypyc_attr(allow_interpreted_subclasses=True)
class FilterPlugin(Plugin, abc.ABC):
    """Decides whether a cluster can take replicas of the request at all."""

    dynamic: bool = False
    """True when the verdict depends on the ledger, so a batch re-runs it for every request."""

    @abc.abstractmethod
    def filter(self, context: PluginContext, cluster: ClusterState) -> Status: ...


@mypyc_attr(allow_interpreted_subclasses=True)
class ScorePlugin(Plugin, abc.ABC):
    """Rates a feasible cluster 0..100 with a reason."""

    per_request: bool = False
    """True when the score depends on the workload's current placement, not only its class."""

    @abc.abstractmethod
    def score(self, context: PluginContext, cluster: ClusterState) -> Score: ...

    def normalize(self, scores: Mapping[str, Score]) -> Mapping[str, Score]:
        """Rescale the scores of all feasible clusters together; identity by default."""
        return scores
