"""Plain data the Kubernetes adapter produces and the rest of the worker works on."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

WORKLOAD_LABEL = "fed.io/workload"
RESERVATION_LABEL = "fed.io/reservation"
EPOCH_LABEL = "fed.io/epoch"
HARD_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})


@dataclass(frozen=True, slots=True)
class Res:
    """An amount of resources: millicores, bytes, devices, pod slots."""

    cpu: int = 0
    memory: int = 0
    gpu: int = 0
    pods: int = 0

    def __add__(self, other: Res) -> Res:
        return Res(
            self.cpu + other.cpu,
            self.memory + other.memory,
            self.gpu + other.gpu,
            self.pods + other.pods,
        )

    def __sub__(self, other: Res) -> Res:
        return Res(
            self.cpu - other.cpu,
            self.memory - other.memory,
            self.gpu - other.gpu,
            self.pods - other.pods,
        )

    def times(self, n: int) -> Res:
        return Res(self.cpu * n, self.memory * n, self.gpu * n, self.pods * n)


ZERO = Res()


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str = ""
    effect: str = ""


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""

    def tolerates(self, taint: Taint) -> bool:
        if self.effect and self.effect != taint.effect:
            return False
        if self.operator == "Exists":
            return not self.key or self.key == taint.key
        return self.key == taint.key and self.value == taint.value


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    ready: bool
    unschedulable: bool
    labels: dict[str, str]
    taints: tuple[Taint, ...]
    allocatable: Res

    @property
    def hard_taints(self) -> tuple[Taint, ...]:
        return tuple(t for t in self.taints if t.effect in HARD_EFFECTS)

    @property
    def schedulable(self) -> bool:
        return self.ready and not self.unschedulable


@dataclass(frozen=True, slots=True)
class Pod:
    key: str  # namespace/name
    node: str  # "" while pending
    phase: str
    requests: Res  # pods is always 1
    workload: str  # fed.io/workload label, "" for foreign pods
    reservation: str  # fed.io/reservation label
    ready: bool

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES

    @property
    def bound(self) -> bool:
        """Holds node resources: scheduled and not finished."""
        return bool(self.node) and not self.terminal

    @property
    def pending(self) -> bool:
        return not self.node and not self.terminal


class EventType(Enum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    BOOKMARK = "BOOKMARK"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: EventType
    resource_version: str
    obj: Node | Pod | Deployment | None  # None for bookmarks


@dataclass(frozen=True, slots=True)
class Listing:
    """A complete list of one kind and the resourceVersion to watch from."""

    items: list[Node] | list[Pod]
    resource_version: str


@dataclass(frozen=True, slots=True)
class Deployment:
    namespace: str
    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    replicas: int
    ready: int
    available: int
    resource_version: str
    manifest: dict[str, Any] = field(repr=False, default_factory=dict)
