"""Resource quantities and their arithmetic: the one module that adds, subtracts and fits them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from fed.v1 import types_pb2

DIMENSIONS = ("cpu_millis", "memory_bytes", "gpu", "pods")
UNLIMITED = 1 << 62


@dataclass(init=False, eq=False)
class Quantity:
    """An amount of cpu, memory, gpu and pod slots (per replica, per node or per cluster).

    Immutable (Final fields; compiled, they are read-only) with a hand-written constructor:
    compiled by mypyc, that costs a tenth of a frozen dataclass's, and the engine builds a
    few dozen quantities per request.
    """

    cpu_millis: Final[int]
    memory_bytes: Final[int]
    gpu: Final[int]
    pods: Final[int]

    def __init__(
        self, cpu_millis: int = 0, memory_bytes: int = 0, gpu: int = 0, pods: int = 0
    ) -> None:
        self.cpu_millis = cpu_millis
        self.memory_bytes = memory_bytes
        self.gpu = gpu
        self.pods = pods

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return (
            self.cpu_millis == other.cpu_millis
            and self.memory_bytes == other.memory_bytes
            and self.gpu == other.gpu
            and self.pods == other.pods
        )

    def __hash__(self) -> int:
        return hash((self.cpu_millis, self.memory_bytes, self.gpu, self.pods))

    @classmethod
    def from_proto(cls, message: types_pb2.Resources) -> Quantity:
        return cls(message.cpu_millis, message.memory_bytes, message.gpu, message.pods)

    @classmethod
    def shape(cls, message: types_pb2.Resources) -> Quantity:
        """A per-replica shape: zero pods means one pod slot."""
        return cls(message.cpu_millis, message.memory_bytes, message.gpu, message.pods or 1)

    def to_proto(self) -> types_pb2.Resources:
        return types_pb2.Resources(
            cpu_millis=self.cpu_millis,
            memory_bytes=self.memory_bytes,
            gpu=self.gpu,
            pods=self.pods,
        )

    def write_to(self, message: types_pb2.Resources) -> None:
        """Set `message` to this quantity in place (a field of a message being built)."""
        message.cpu_millis = self.cpu_millis
        message.memory_bytes = self.memory_bytes
        message.gpu = self.gpu
        message.pods = self.pods

    def values(self) -> tuple[int, int, int, int]:
        return (self.cpu_millis, self.memory_bytes, self.gpu, self.pods)

    def __add__(self, other: Quantity) -> Quantity:
        return Quantity(
            self.cpu_millis + other.cpu_millis,
            self.memory_bytes + other.memory_bytes,
            self.gpu + other.gpu,
            self.pods + other.pods,
        )

    def __sub__(self, other: Quantity) -> Quantity:
        return Quantity(
            self.cpu_millis - other.cpu_millis,
            self.memory_bytes - other.memory_bytes,
            self.gpu - other.gpu,
            self.pods - other.pods,
        )

    def times(self, count: int) -> Quantity:
        return Quantity(
            self.cpu_millis * count, self.memory_bytes * count, self.gpu * count, self.pods * count
        )

    def scaled(self, factor: float) -> Quantity:
        """Each dimension times factor, rounded down (allocatable x overcommit)."""
        return Quantity(
            int(self.cpu_millis * factor),
            int(self.memory_bytes * factor),
            int(self.gpu * factor),
            int(self.pods * factor),
        )

    def copies(self, shape: Quantity) -> int:
        """How many copies of shape fit in self; dimensions the shape does not use do not limit."""
        best = UNLIMITED
        if shape.cpu_millis > 0:
            best = min(best, max(self.cpu_millis, 0) // shape.cpu_millis)
        if shape.memory_bytes > 0:
            best = min(best, max(self.memory_bytes, 0) // shape.memory_bytes)
        if shape.gpu > 0:
            best = min(best, max(self.gpu, 0) // shape.gpu)
        if shape.pods > 0:
            best = min(best, max(self.pods, 0) // shape.pods)
        return best

    def lower_bound(self, other: Quantity) -> Quantity:
        """The per-dimension minimum: what both amounts have at least."""
        return Quantity(
            min(self.cpu_millis, other.cpu_millis),
            min(self.memory_bytes, other.memory_bytes),
            min(self.gpu, other.gpu),
            min(self.pods, other.pods),
        )

    def exceeded(self, limit: Quantity, added: Quantity) -> list[str]:
        """Dimensions where self exceeds limit among those that added grows (written out:
        the ledger asks this for every reservation it makes)."""
        found: list[str] = []
        if added.cpu_millis > 0 and self.cpu_millis > limit.cpu_millis:
            found.append("cpu_millis")
        if added.memory_bytes > 0 and self.memory_bytes > limit.memory_bytes:
            found.append("memory_bytes")
        if added.gpu > 0 and self.gpu > limit.gpu:
            found.append("gpu")
        if added.pods > 0 and self.pods > limit.pods:
            found.append("pods")
        return found

    def ceil_to(self, grid: Quantity) -> Quantity:
        """Each dimension rounded up to a multiple of the grid's (zero grid: unchanged)."""
        return Quantity(*(_ceil(v, g) for v, g in zip(self.values(), grid.values(), strict=True)))

    def describe(self) -> str:
        parts = [f"cpu={self.cpu_millis}m", f"memory={_mebibytes(self.memory_bytes)}Mi"]
        if self.gpu:
            parts.append(f"gpu={self.gpu}")
        parts.append(f"pods={self.pods}")
        return " ".join(parts)


ZERO = Quantity()


def _ceil(value: int, grid: int) -> int:
    return value if grid <= 0 else -(-value // grid) * grid


def _mebibytes(value: int) -> int:
    return value >> 20
