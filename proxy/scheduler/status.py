"""The outcome of a plugin or of a whole scheduling cycle, with its reasons."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final


class Code(enum.Enum):
    SUCCESS = "Success"
    UNSCHEDULABLE = "Unschedulable"
    UNSCHEDULABLE_AND_UNRESOLVABLE = "UnschedulableAndUnresolvable"
    ERROR = "Error"


@dataclass(init=False, unsafe_hash=True)
class Status:
    """A code, the plugin that produced it and human-readable reasons."""

    code: Final[Code]
    reasons: Final[tuple[str, ...]]
    plugin: Final[str]

    def __init__(
        self, code: Code = Code.SUCCESS, reasons: tuple[str, ...] = (), plugin: str = ""
    ) -> None:
        self.code = code
        self.reasons = reasons
        self.plugin = plugin

    @classmethod
    def success(cls, reason: str = "", plugin: str = "") -> Status:
        return cls(Code.SUCCESS, (reason,) if reason else (), plugin)

    @classmethod
    def unschedulable(cls, reason: str, plugin: str = "") -> Status:
        return cls(Code.UNSCHEDULABLE, (reason,), plugin)

    @classmethod
    def unresolvable(cls, reason: str, plugin: str = "") -> Status:
        return cls(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, (reason,), plugin)

    @classmethod
    def error(cls, reason: str, plugin: str = "") -> Status:
        return cls(Code.ERROR, (reason,), plugin)

    @property
    def ok(self) -> bool:
        return self.code is Code.SUCCESS

    def by(self, plugin: str) -> Status:
        """The same status attributed to a plugin."""
        return Status(self.code, self.reasons, plugin)

    def message(self) -> str:
        return "; ".join(self.reasons)
