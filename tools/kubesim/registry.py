"""API semantics over the store: metadata, conflicts, subresources, deletion, pagination."""

from __future__ import annotations

import base64
import binascii
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tools.kubesim import kinds
from tools.kubesim.errors import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    expired,
    invalid,
    not_found,
)
from tools.kubesim.patch import STRATEGIC_MERGE_PATCH, apply_patch
from tools.kubesim.resources import NAMESPACES, PODS, ResourceType
from tools.kubesim.selectors import FieldSelector, LabelSelector
from tools.kubesim.store import Entry, Store, object_key
from tools.kubesim.units import rfc3339

PROTECTED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
IMMUTABLE_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID_SET = (0x4 << 76) | (0x2 << 62)
STALE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


@dataclass
class ListResult:
    items: list[Entry]
    rv: int
    continue_token: str = ""
    remaining: int | None = None


@dataclass
class DeleteOptions:
    grace_seconds: int | None = None
    propagation: str = "Background"
    uid: str | None = None
    resource_version: str | None = None

    @classmethod
    def parse(cls, body: Any, query: dict[str, str]) -> DeleteOptions:
        body = body if isinstance(body, dict) else {}
        pre = body.get("preconditions") or {}
        grace = body.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
        policy = body.get("propagationPolicy") or query.get("propagationPolicy") or "Background"
        if body.get("orphanDependents") is True or query.get("orphanDependents") == "true":
            policy = "Orphan"
        return cls(
            None if grace is None else int(grace),
            policy,
            pre.get("uid"),
            pre.get("resourceVersion"),
        )


def new_uid() -> str:
    """A random (version 4) UUID string, without building a `uuid.UUID` per object."""
    bits = random.getrandbits(128) & _UUID_CLEAR | _UUID_SET
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def encode_continue(rv: int, key: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": key + "\x00"})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_continue(token: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["rv"]), str(data["start"]).rstrip("\x00")
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise bad_request(f"invalid continue token: {exc}") from exc


def _parse_rv(value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise bad_request(f'invalid resource version "{value}"') from exc


class Registry:
    """The REST semantics of one cluster; the HTTP layer and the controllers both use it."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def key(self, rt: ResourceType, namespace: str | None, name: str) -> str:
        return object_key(namespace if rt.namespaced else None, name)

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Entry:
        entry = self.store.get(rt.plural, self.key(rt, namespace, name))
        if entry is None:
            raise not_found(rt.plural, name, rt.group)
        return entry

    def find(self, rt: ResourceType, namespace: str | None, name: str) -> Entry | None:
        return self.store.get(rt.plural, self.key(rt, namespace, name))

    def list(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        limit: int = 0,
        continue_token: str = "",
        resource_version: str = "",
        rv_match: str = "",
    ) -> ListResult:
        """A list honouring selectors and `limit`/`continue`; expired snapshots raise 410."""
        prefix = f"{namespace}/" if rt.namespaced and namespace else ""
        after, snapshot = "", 0
        if continue_token:
            snapshot, after = decode_continue(continue_token)
        elif rv_match == "Exact" and resource_version:
            snapshot = _parse_rv(resource_version)
        if snapshot and self.store.expired(snapshot):
            raise expired(
                "The provided continue parameter is too old to display a consistent list "
                "result. You can start a new list without the continue parameter."
                if continue_token
                else f"Timeout: Too large resource version or expired: {snapshot}"
            )
        rv = snapshot or self.store.rv
        source = self._source(rt, prefix, after, snapshot)
        return _paginate(source, labels, fields, limit, rv)

    def _source(self, rt: ResourceType, prefix: str, after: str, snapshot: int) -> Iterator[Entry]:
        if snapshot:
            return self.store.entries_at(rt.plural, prefix, after, snapshot)
        table = self.store.table(rt.plural)
        if not prefix and not after:
            return (table.entries[k] for k in table.sorted_keys())
        return (table.entries[k] for k in table.keys_from(prefix, after))

    def _check_namespace(self, namespace: str, creating: bool) -> None:
        ns = self.store.get(NAMESPACES.plural, namespace)
        if ns is None:
            raise not_found("namespaces", namespace)
        if creating and ns.meta.get("deletionTimestamp"):
            raise ApiError(
                403,
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
                "Forbidden",
            )

    def _decode(self, rt: ResourceType, namespace: str | None, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        kind = body.get("kind")
        if kind and kind != rt.kind:
            raise bad_request(f"the kind of the object ({kind}) does not match {rt.kind}")
        obj = {**body, "kind": rt.kind, "apiVersion": rt.api_version}
        meta = dict(body.get("metadata") or {})
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        obj["metadata"] = meta
        return obj

    def create(self, rt: ResourceType, namespace: str | None, body: Any) -> Entry:
        """POST: 201 semantics (uid, timestamps, generateName, defaults) or 404/409/422."""
        obj = self._decode(rt, namespace, body)
        meta = obj["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            suffix = "".join(random.choices(_NAME_CHARS, k=5))
            meta["name"] = f"{meta['generateName']}{suffix}"
        kinds.validate(rt, obj)
        if rt.namespaced and namespace:
            self._check_namespace(namespace, creating=True)
        key = self.key(rt, namespace, meta["name"])
        if self.store.get(rt.plural, key) is not None:
            raise already_exists(rt.plural, meta["name"], rt.group)
        for field in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
            meta.pop(field, None)
        meta["uid"] = new_uid()
        meta["creationTimestamp"] = rfc3339(time.time())
        kinds.prepare_create(rt, obj)
        return self.store.commit(rt.plural, key, obj)

    def update(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        subresource: str = "",
    ) -> Entry:
        """PUT on the object or its status: optimistic concurrency, status split, generation."""
        obj = self._decode(rt, namespace, body)
        body_name = obj["metadata"].get("name")
        if body_name and body_name != name:
            raise bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})"
            )
        obj["metadata"]["name"] = name
        old = self.get(rt, namespace, name)
        wanted = obj["metadata"].get("resourceVersion")
        if wanted and str(wanted) != str(old.rv):
            raise conflict(rt.plural, name, STALE, rt.group)
        return self.replace_entry(rt, old, obj, subresource)

    def replace_entry(
        self, rt: ResourceType, old: Entry, obj: dict[str, Any], subresource: str = ""
    ) -> Entry:
        """Store `obj` as the next version of `old`, applying the subresource split."""
        if subresource == "status":
            obj = {**old.obj, "status": obj.get("status", {})}
        elif subresource == "finalize":
            finalizers = (obj.get("spec") or {}).get("finalizers") or []
            obj = {**old.obj, "spec": {**(old.obj.get("spec") or {}), "finalizers": finalizers}}
        else:
            meta = obj["metadata"]
            for field in IMMUTABLE_META:
                if field in old.meta:
                    meta[field] = old.meta[field]
                else:
                    meta.pop(field, None)
            if rt.has_status:
                if "status" in old.obj:
                    obj["status"] = old.obj["status"]
                else:
                    obj.pop("status", None)
            kinds.prepare_update(rt, obj)
            kinds.validate(rt, obj, old.obj)
            if obj.get("spec") != old.obj.get("spec") and "generation" in old.meta:
                meta["generation"] = old.meta["generation"] + 1
            elif "generation" in old.meta:
                meta["generation"] = old.meta["generation"]
        obj["metadata"] = {**obj["metadata"], "resourceVersion": old.meta["resourceVersion"]}
        if obj == old.obj:
            return old
        key = self.key(rt, old.meta.get("namespace"), old.meta["name"])
        if self._finished(rt, obj):
            return self.store.commit(rt.plural, key, None)
        return self.store.commit(rt.plural, key, obj)

    def write(self, rt: ResourceType, old: Entry, obj: dict[str, Any]) -> Entry:
        """Store `obj` (spec and status alike) as the next version of `old`: controller use."""
        obj = {
            **obj,
            "metadata": {**obj["metadata"], "resourceVersion": old.meta["resourceVersion"]},
        }
        if obj == old.obj:
            return old
        return self.store.commit(
            rt.plural, self.key(rt, old.meta.get("namespace"), old.meta["name"]), obj
        )

    def set_status(self, rt: ResourceType, old: Entry, status: dict[str, Any]) -> Entry:
        """Commit a new status a controller computed (it knows the status changed)."""
        obj = {**old.obj, "status": status}
        return self.store.commit(
            rt.plural, self.key(rt, old.meta.get("namespace"), old.meta["name"]), obj
        )

    def _finished(self, rt: ResourceType, obj: dict[str, Any]) -> bool:
        meta = obj["metadata"]
        if not meta.get("deletionTimestamp") or meta.get("finalizers"):
            return False
        if rt is NAMESPACES:
            return not (obj.get("spec") or {}).get("finalizers")
        return not meta.get("deletionGracePeriodSeconds")

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        body: Any,
        subresource: str = "",
    ) -> Entry:
        """PATCH in any of the three formats; a resourceVersion in the patch is a precondition."""
        old = self.get(rt, namespace, name)
        patched = apply_patch(content_type, old.obj, body)
        meta = patched.get("metadata")
        if not isinstance(meta, dict):
            raise bad_request("patch removed metadata")
        wanted = meta.get("resourceVersion")
        if wanted and str(wanted) != str(old.rv):
            raise conflict(rt.plural, name, STALE, rt.group)
        obj = self._decode(rt, namespace, patched)
        obj["metadata"]["name"] = name
        return self.replace_entry(rt, old, obj, subresource)

    def apply(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        field_manager: str,
        subresource: str = "",
    ) -> tuple[Entry, bool]:
        """Server-side apply, simplified: create when missing, else merge the applied
        configuration (strategic merge). Field ownership is not tracked, so fields dropped
        from the configuration are kept. Returns (entry, created)."""
        if not field_manager:
            raise invalid(
                "PatchOptions",
                "",
                [("FieldValueRequired", "fieldManager", "Required value: is required for apply")],
                "meta.k8s.io",
            )
        if not isinstance(body, dict):
            raise bad_request("apply patch must be an object")
        applied_name = (body.get("metadata") or {}).get("name")
        if applied_name and applied_name != name:
            raise bad_request(
                f"the name of the object ({applied_name}) does not match the name on the URL "
                f"({name})"
            )
        if self.find(rt, namespace, name) is None and not subresource:
            doc = {**body, "metadata": {**(body.get("metadata") or {}), "name": name}}
            return self.create(rt, namespace, doc), True
        return self.patch(rt, namespace, name, STRATEGIC_MERGE_PATCH, body, subresource), False

    def delete(
        self, rt: ResourceType, namespace: str | None, name: str, options: DeleteOptions
    ) -> Entry:
        """DELETE: preconditions, finalizers, graceful pod termination, namespace termination."""
        entry = self.get(rt, namespace, name)
        meta = entry.meta
        if options.uid and options.uid != meta.get("uid"):
            raise conflict(
                rt.plural,
                name,
                f"Precondition failed: UID in precondition: {options.uid}, "
                f"UID in object meta: {meta.get('uid')}",
                rt.group,
            )
        if options.resource_version and options.resource_version != meta["resourceVersion"]:
            raise conflict(
                rt.plural,
                name,
                f"Precondition failed: ResourceVersion in precondition: "
                f"{options.resource_version}, ResourceVersion in object meta: "
                f"{meta['resourceVersion']}",
                rt.group,
            )
        if options.propagation == "Orphan":
            self.orphan(meta.get("uid", ""))
        if rt is NAMESPACES:
            return self._terminate_namespace(entry)
        grace = self._grace(rt, entry, options.grace_seconds)
        if meta.get("deletionTimestamp") and not (
            grace == 0 and meta.get("deletionGracePeriodSeconds")
        ):
            return entry
        if grace or meta.get("finalizers"):
            return self._mark_deleting(rt, entry, grace)
        return self.store.commit(rt.plural, self.key(rt, namespace, name), None)

    def _grace(self, rt: ResourceType, entry: Entry, requested: int | None) -> int:
        if rt is not PODS:
            return 0
        spec = entry.obj.get("spec") or {}
        phase = (entry.obj.get("status") or {}).get("phase")
        if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
            return 0
        grace = spec.get("terminationGracePeriodSeconds", 30) if requested is None else requested
        return max(0, int(grace))

    def _mark_deleting(self, rt: ResourceType, entry: Entry, grace: int) -> Entry:
        meta = {**entry.meta, "deletionGracePeriodSeconds": grace}
        if not meta.get("deletionTimestamp") or grace == 0:
            meta["deletionTimestamp"] = rfc3339(time.time() + grace)
        key = self.key(rt, meta.get("namespace"), meta["name"])
        if grace == 0 and not meta.get("finalizers"):
            return self.store.commit(rt.plural, key, None)
        return self.store.commit(rt.plural, key, {**entry.obj, "metadata": meta})

    def _terminate_namespace(self, entry: Entry) -> Entry:
        name = entry.meta["name"]
        if name in PROTECTED_NAMESPACES:
            raise ApiError(
                403,
                f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                "Forbidden",
            )
        if entry.meta.get("deletionTimestamp"):
            return entry
        meta = {**entry.meta, "deletionTimestamp": rfc3339(time.time())}
        obj = {**entry.obj, "metadata": meta, "status": {"phase": "Terminating"}}
        return self.store.commit(NAMESPACES.plural, name, obj)

    def orphan(self, owner_uid: str) -> None:
        """Drop the owner reference to `owner_uid` from every dependent."""
        for resource, key in list(self.store.dependents.get(owner_uid, ())):
            entry = self.store.get(resource, key)
            if entry is None:
                continue
            refs = [r for r in entry.meta.get("ownerReferences", []) if r.get("uid") != owner_uid]
            meta = {**entry.meta, "ownerReferences": refs}
            if not refs:
                del meta["ownerReferences"]
            self.store.commit(resource, key, {**entry.obj, "metadata": meta})

    def bind(self, namespace: str, name: str, body: Any) -> Entry:
        """POST pods/<name>/binding: set spec.nodeName once; 409 when already bound."""
        if not isinstance(body, dict) or not (body.get("target") or {}).get("name"):
            raise invalid(
                "Binding", name, [("FieldValueRequired", "target.name", "Required value")]
            )
        entry = self.get(PODS, namespace, name)
        if (entry.obj.get("spec") or {}).get("nodeName"):
            raise conflict(
                "pods",
                name,
                f'pod {name} is already assigned to node "{entry.obj["spec"]["nodeName"]}"',
            )
        if entry.meta.get("deletionTimestamp"):
            raise conflict("pods", name, "pod is being deleted, cannot be assigned to a host")
        return self.assign(entry, body["target"]["name"])

    def assign(self, entry: Entry, node: str) -> Entry:
        """Bind a pod to `node` and record PodScheduled=True (what the binding REST does)."""
        status = dict(entry.obj.get("status") or {})
        status["conditions"] = _set_condition(
            status.get("conditions"), {"type": "PodScheduled", "status": "True"}
        )
        obj = {
            **entry.obj,
            "spec": {**entry.obj["spec"], "nodeName": node},
            "status": status,
        }
        key = object_key(entry.meta["namespace"], entry.meta["name"])
        return self.store.commit(PODS.plural, key, obj)

    def scale(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        """The autoscaling/v1 Scale view of a deployment or replica set."""
        return scale_of(self.get(rt, namespace, name))

    def update_scale(
        self, rt: ResourceType, namespace: str, name: str, content_type: str | None, body: Any
    ) -> dict[str, Any]:
        """PUT or PATCH <deployments|replicasets>/<name>/scale; only spec.replicas is taken."""
        entry = self.get(rt, namespace, name)
        current = scale_of(entry)
        scale = apply_patch(content_type, current, body) if content_type else body
        if not isinstance(scale, dict):
            raise bad_request("the body of the request must be a Scale object")
        wanted = (scale.get("metadata") or {}).get("resourceVersion")
        if wanted and str(wanted) != str(entry.rv):
            raise conflict(rt.plural, name, STALE, rt.group)
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or replicas < 0:
            raise invalid(
                "Scale",
                name,
                [("FieldValueInvalid", "spec.replicas", "must be >= 0")],
                "autoscaling",
            )
        obj = {**entry.obj, "spec": {**entry.obj["spec"], "replicas": replicas}}
        return scale_of(self.replace_entry(rt, entry, obj))


def _set_condition(conditions: Any, condition: dict[str, Any]) -> list[dict[str, Any]]:
    now = rfc3339(time.time())
    out = [c for c in conditions or [] if c.get("type") != condition["type"]]
    out.append({"lastProbeTime": None, "lastTransitionTime": now, **condition})
    return out


def scale_of(entry: Entry) -> dict[str, Any]:
    meta = entry.meta
    status = entry.obj.get("status") or {}
    selector = ((entry.obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": entry.obj["spec"].get("replicas", 1)},
        "status": {
            "replicas": status.get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(selector.items())),
        },
    }


def _paginate(
    source: Iterator[Entry], labels: LabelSelector, fields: FieldSelector, limit: int, rv: int
) -> ListResult:
    items: list[Entry] = []
    filtered = not labels.empty or not fields.empty
    for entry in source:
        if filtered and not (labels.matches(entry.labels) and fields.matches(entry.obj)):
            continue
        if limit and len(items) == limit:
            last = items[-1].meta
            key = object_key(last.get("namespace"), last["name"])
            remaining = None if filtered else 1 + sum(1 for _ in source)
            return ListResult(items, rv, encode_continue(rv, key), remaining)
        items.append(entry)
    return ListResult(items, rv)
