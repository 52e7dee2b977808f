"""What a request's PlacementPolicy message means to the engine, worked out once per message.

Validation against the named policies, the resolved policy, the class selection and weights
and the division rules depend only on the message's bytes and the policies in force. PaaS
callers send a handful of distinct policies, so a busy batch looks them up by those bytes
instead of re-reading every protobuf field of every request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from fed.v1 import types_pb2
from proxy.scheduler.divide import Rules
from proxy.scheduler.equivalence import ClassKey
from proxy.scheduler.model import PlacementRequest
from proxy.scheduler.policy import Policy
from proxy.scheduler.resources import Quantity
from proxy.scheduler.selection import Selection
from proxy.scheduler.validation import check_policy, resolve_named

MAX_ENTRIES = 1024
"""Distinct policy messages remembered (the oldest go first)."""


@dataclass(frozen=True, slots=True)
class RequestPolicy:
    """A valid PlacementPolicy message, resolved against the policies in force."""

    policy: Policy
    selection: Selection
    weights: tuple[tuple[str, float], ...]
    rules: Rules
    """The division rules when nothing is being evacuated."""
    evacuating_rules: Rules
    class_keys: dict[Quantity, ClassKey] = field(default_factory=dict)
    """Per request shape, the equivalence class key (a cache)."""

    def class_key(self, shape: Quantity) -> ClassKey:
        key = self.class_keys.get(shape)
        if key is None:
            key = ClassKey(
                shape.ceil_to(self.policy.shape_grid),
                self.selection,
                self.policy.name,
                self.weights,
            )
            self.class_keys[shape] = key
        return key


class RequestPolicies:
    """Resolved policy messages for one set of named policies (rebuilt when they change)."""

    def __init__(self, policies: Mapping[str, Policy], max_entries: int = MAX_ENTRIES) -> None:
        self._policies = policies
        self._max_entries = max_entries
        self._entries: OrderedDict[bytes, RequestPolicy] = OrderedDict()

    def of(self, request: PlacementRequest) -> RequestPolicy:
        """The request's resolved policy message (see `get`)."""
        return self._resolve(request.policy, request.policy_key)

    def get(self, message: types_pb2.PlacementPolicy) -> RequestPolicy:
        """The resolved message; raises PolicyError naming the first invalid field (invalid
        messages are not remembered)."""
        return self._resolve(message, message.SerializeToString(deterministic=True))

    def _resolve(self, message: types_pb2.PlacementPolicy, key: bytes) -> RequestPolicy:
        found = self._entries.get(key)
        if found is not None:
            return found
        policy = resolve_named(message, self._policies)
        check_policy(message, policy)
        found = RequestPolicy(
            policy,
            Selection.from_policy(message),
            policy.weights(message.weights),
            Rules.from_policy(message),
            Rules.from_policy(message, evacuating=True),
        )
        self._entries[key] = found
        if len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return found
