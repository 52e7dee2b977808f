"""Label and field selectors with the Kubernetes grammar and semantics."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tools.kubesim.errors import ApiError, bad_request

_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_SET_TERM = re.compile(r"^(\S+)\s+(in|notin)\s*\((.*)\)$")


@dataclass(frozen=True)
class Requirement:
    """One term: `op` is one of =, !=, in, notin, exists, !exists."""

    key: str
    op: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    terms.append("".join(current).strip())
    return [t for t in terms if t]


def _check(key: str, values: frozenset[str], term: str) -> None:
    if not _KEY.match(key) or any(not _VALUE.match(v) or len(v) > 63 for v in values):
        raise bad_request(f"unable to parse requirement: invalid label selector term {term!r}")


def _parse_term(term: str) -> Requirement:
    match = _SET_TERM.match(term)
    if match:
        values = frozenset(v.strip() for v in match.group(3).split(",") if v.strip())
        req = Requirement(match.group(1), match.group(2), values)
    elif term.startswith("!"):
        req = Requirement(term[1:].strip(), "!exists")
    else:
        req = _parse_equality(term)
    _check(req.key, req.values, term)
    return req


def _parse_equality(term: str) -> Requirement:
    for op, norm in (("!=", "!="), ("==", "="), ("=", "=")):
        if op in term:
            key, value = term.split(op, 1)
            return Requirement(key.strip(), norm, frozenset({value.strip()}))
    return Requirement(term.strip(), "exists")


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a `labelSelector` query value; raise 400 BadRequest when it is malformed."""
    if not text:
        return LabelSelector()
    return LabelSelector(tuple(_parse_term(t) for t in _split_terms(text)))


def selector_from_spec(spec: Mapping[str, Any] | None) -> LabelSelector:
    """Build a selector from a meta/v1 LabelSelector object (matchLabels, matchExpressions)."""
    spec = spec or {}
    reqs = [Requirement(k, "=", frozenset({v})) for k, v in (spec.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for expr in spec.get("matchExpressions") or []:
        op = ops.get(expr.get("operator", ""))
        if op is None:
            raise ApiError(422, f"invalid selector operator {expr.get('operator')!r}")
        reqs.append(Requirement(expr["key"], op, frozenset(expr.get("values") or ())))
    return LabelSelector(tuple(reqs))


def _path(*keys: str) -> Callable[[Mapping[str, Any]], str]:
    def get(obj: Mapping[str, Any]) -> str:
        value: Any = obj
        for key in keys:
            value = value.get(key) if isinstance(value, Mapping) else None
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return get


_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
_RESOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "pods": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "nodes": ("spec.unschedulable",),
    "namespaces": ("status.phase",),
    "events": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "deployments": (),
    "replicasets": (),
}


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    equal: bool
    value: str
    getter: Callable[[Mapping[str, Any]], str]

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return (self.getter(obj) == self.value) == self.equal


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(r.matches(obj) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def exact(self, field: str) -> str | None:
        """The value `field` must equal, when the selector pins it (used to narrow lookups)."""
        for r in self.requirements:
            if r.field == field and r.equal:
                return r.value
        return None


def _parse_field_term(term: str, resource: str) -> FieldRequirement:
    op = next((o for o in ("!=", "==", "=") if o in term), None)
    if op is None:
        raise bad_request(f"invalid selector: '{term}'; can't understand '{term}'")
    equal = op != "!="
    name, value = (s.strip() for s in term.split(op, 1))
    if name not in _COMMON_FIELDS and name not in _RESOURCE_FIELDS.get(resource, ()):
        raise bad_request(f'field label not supported: "{name}"')
    if name == "source" and resource == "events":
        return FieldRequirement(name, equal, value, _path("source", "component"))
    return FieldRequirement(name, equal, value, _path(*name.split(".")))


def parse_field_selector(text: str | None, resource: str) -> FieldSelector:
    """Parse a `fieldSelector` for `resource`; unsupported fields are a 400 BadRequest."""
    if not text:
        return FieldSelector()
    terms = [t.strip() for t in text.split(",") if t.strip()]
    return FieldSelector(tuple(_parse_field_term(t, resource) for t in terms))
