"""core/v1 Events from the simulated control plane, aggregated and capped like the real
event pipeline (repeats bump `count`; the oldest events are dropped past the cap)."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from typing import Any

from tools.kubesim.registry import Registry
from tools.kubesim.resources import EVENTS
from tools.kubesim.store import Entry, object_key
from tools.kubesim.units import rfc3339


class EventRecorder:
    """Records events about stored objects; at most `limit` events are kept per cluster."""

    def __init__(self, registry: Registry, limit: int = 2000) -> None:
        self.registry = registry
        self.limit = limit
        self.recent: OrderedDict[tuple[str, str, str], str] = OrderedDict()

    def record(self, about: Entry, kind: str, reason: str, message: str, component: str) -> None:
        """Emit (or aggregate) an event of `kind` (Normal or Warning) about `about`."""
        meta = about.meta
        namespace = meta.get("namespace") or "default"
        ident = (meta.get("uid", ""), reason, message)
        now = rfc3339(time.time())
        existing_key = self.recent.get(ident)
        existing = self.registry.store.get(EVENTS.plural, existing_key) if existing_key else None
        if existing is not None:
            obj = {**existing.obj, "count": existing.obj.get("count", 1) + 1, "lastTimestamp": now}
            self.registry.write(EVENTS, existing, obj)
            self.recent.move_to_end(ident)
            return
        name = f"{meta['name']}.{secrets.token_hex(8)}"
        self.registry.create(EVENTS, namespace, _event(about, name, kind, reason, message,
                                                       component, now))  # fmt: skip
        self.recent[ident] = object_key(namespace, name)
        self._prune()

    def _prune(self) -> None:
        while len(self.recent) > self.limit:
            _, key = self.recent.popitem(last=False)
            if self.registry.store.get(EVENTS.plural, key) is not None:
                self.registry.store.commit(EVENTS.plural, key, None)


def _event(
    about: Entry, name: str, kind: str, reason: str, message: str, component: str, now: str
) -> dict[str, Any]:
    meta = about.meta
    return {
        "metadata": {"name": name},
        "involvedObject": {
            "kind": about.obj.get("kind"),
            "apiVersion": about.obj.get("apiVersion"),
            "namespace": meta.get("namespace", ""),
            "name": meta["name"],
            "uid": meta.get("uid", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        },
        "reason": reason,
        "message": message,
        "source": {"component": component},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": kind,
        "eventTime": None,
        "reportingComponent": component,
        "reportingInstance": "",
    }
