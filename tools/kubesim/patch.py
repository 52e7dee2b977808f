"""The three Kubernetes patch formats: JSON patch, JSON merge patch, strategic merge patch.

Every function returns a new document and never mutates its inputs, so stored objects can
share structure safely.
"""

from __future__ import annotations

import copy
from typing import Any

from tools.kubesim.errors import ApiError, bad_request

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)

# Lists merged by key under strategic merge (patchStrategy=merge in the Kubernetes types),
# looked up by field name: the subset of types kubesim serves has no ambiguous names.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "volumes": "name",
    "imagePullSecrets": "name",
    "conditions": "type",
    "addresses": "type",
    "ownerReferences": "uid",
    "taints": "key",
    "hostAliases": "ip",
    "resourceClaims": "name",
    "topologySpreadConstraints": "topologyKey",
}
MERGED_PRIMITIVE_LISTS = frozenset({"finalizers"})


def apply_patch(content_type: str, doc: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Apply `patch` of media type `content_type` to `doc`; 415 for unsupported types."""
    media = content_type.split(";", maxsplit=1)[0].strip()
    if media == JSON_PATCH:
        if not isinstance(patch, list):
            raise bad_request("json patch must be a list of operations")
        return json_patch(doc, patch)
    if not isinstance(patch, dict):
        raise bad_request("patch body must be a JSON object")
    if media == MERGE_PATCH:
        result = merge_patch(doc, patch)
    elif media == STRATEGIC_MERGE_PATCH:
        result = strategic_merge(doc, patch)
    else:
        raise ApiError(
            415,
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{', '.join(PATCH_TYPES)}",
        )
    if not isinstance(result, dict):
        raise bad_request("patch produced a non-object document")
    return result


def merge_patch(doc: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(doc) if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge(doc: Any, patch: Any, field: str = "") -> Any:
    """Kubernetes strategic merge patch, with the directives kubectl and client-go emit."""
    if not isinstance(patch, dict):
        return patch
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: v for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    result = dict(doc) if isinstance(doc, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$"):
            if key.startswith("$deleteFromPrimitiveList/"):
                name = key.split("/", 1)[1]
                drop = set(value or [])
                result[name] = [v for v in result.get(name) or [] if v not in drop]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value)
        else:
            merged = strategic_merge(result.get(key), value, key)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    if isinstance(retain, list):
        keep = set(retain)
        result = {k: v for k, v in result.items() if k in keep or k not in patch}
    return result


def _merge_list(field: str, existing: Any, patch: list[Any]) -> list[Any]:
    current: list[Any] = existing if isinstance(existing, list) else []
    if field in MERGED_PRIMITIVE_LISTS:
        return current + [v for v in patch if v not in current]
    key = MERGE_KEYS.get(field)
    if key is None or not all(isinstance(v, dict) for v in patch):
        return [v for v in patch if not (isinstance(v, dict) and v.get("$patch"))]
    if any(isinstance(v, dict) and v.get("$patch") == "replace" for v in patch):
        return [v for v in patch if not (isinstance(v, dict) and v.get("$patch"))]
    merged = list(current)
    index = {item.get(key): i for i, item in enumerate(merged) if isinstance(item, dict)}
    deleted: set[Any] = set()
    for item in patch:
        ident = item.get(key)
        if item.get("$patch") == "delete":
            deleted.add(ident)
        elif ident in index:
            merged[index[ident]] = strategic_merge(merged[index[ident]], item, field)
        else:
            index[ident] = len(merged)
            merged.append(strategic_merge({}, item, field))
    return [m for m in merged if not (isinstance(m, dict) and m.get(key) in deleted)]


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts[:-1]:
        node = _child(node, part)
    return node


def _child(node: Any, part: str) -> Any:
    try:
        if isinstance(node, list):
            return node[int(part)]
        return node[part]
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise ApiError(422, f"json patch: path component {part!r} not found") from exc


def _index(node: list[Any], part: str, insert: bool) -> int:
    if insert and part == "-":
        return len(node)
    try:
        idx = int(part)
    except ValueError as exc:
        raise ApiError(422, f"json patch: invalid array index {part!r}") from exc
    if idx < 0 or idx > len(node) or (not insert and idx == len(node)):
        raise ApiError(422, f"json patch: array index {idx} out of range")
    return idx


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _parent(doc, parts)
    last = parts[-1]
    if isinstance(parent, list):
        parent.insert(_index(parent, last, True), value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise ApiError(422, "json patch: parent is not a container")
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    if not parts:
        raise ApiError(422, "json patch: cannot remove the root")
    parent = _parent(doc, parts)
    last = parts[-1]
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, False))
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    raise ApiError(422, f"json patch: path {'/'.join(parts)!r} not found")


def _get(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts:
        node = _child(node, part)
    return node


def json_patch(doc: dict[str, Any], ops: list[Any]) -> dict[str, Any]:
    """RFC 6902 JSON patch; a failing `test` is a 422."""
    result: Any = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise bad_request("json patch: each operation needs 'op' and 'path'")
        result = _apply_op(result, op)
    if not isinstance(result, dict):
        raise bad_request("json patch produced a non-object document")
    return result


def _apply_op(doc: Any, op: dict[str, Any]) -> Any:
    kind, parts = op["op"], _pointer(op["path"])
    if kind == "add":
        return _add(doc, parts, copy.deepcopy(op.get("value")))
    if kind == "remove":
        _remove(doc, parts)
        return doc
    if kind == "replace":
        _remove(doc, parts) if parts else None
        return _add(doc, parts, copy.deepcopy(op.get("value")))
    if kind in ("move", "copy"):
        source = _pointer(op.get("from", ""))
        value = _remove(doc, source) if kind == "move" else copy.deepcopy(_get(doc, source))
        return _add(doc, parts, value)
    if kind == "test":
        if _get(doc, parts) != op.get("value"):
            raise ApiError(422, f"json patch: test failed at {op['path']!r}")
        return doc
    raise bad_request(f"json patch: unknown operation {kind!r}")
