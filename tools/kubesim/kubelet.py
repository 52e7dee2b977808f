"""Simulated kubelets: bound pods become Running and Ready after a delay; terminating pods
are removed once their (shortened) grace period has passed."""

from __future__ import annotations

import functools
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from tools.kubesim.nodes import node_ready
from tools.kubesim.registry import DeleteOptions, Registry
from tools.kubesim.resources import NODES, PODS
from tools.kubesim.store import DELETED, Change, Entry
from tools.kubesim.units import rfc3339


@dataclass(slots=True)
class Task:
    due: float
    key: str


@functools.lru_cache(maxsize=8)
def _ready_conditions(now: str) -> list[dict[str, Any]]:
    """Shared by every pod started in the same second (objects are never mutated in place)."""
    return [
        {"type": kind, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
        for kind in (
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
        )
    ]


@functools.lru_cache(maxsize=256)
def _container_statuses(containers: tuple[tuple[str, str], ...], now: str) -> list[dict[str, Any]]:
    """Running statuses for (name, image) pairs, shared like `_ready_conditions`."""
    return [
        {
            "name": name,
            "image": image,
            "imageID": f"docker-pullable://{image}",
            "containerID": f"containerd://kubesim-{name}",
            "ready": True,
            "started": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": now}},
            "lastState": {},
        }
        for name, image in containers
    ]


def _names_images(pod: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    containers = (pod.get("spec") or {}).get("containers") or ()
    return tuple((str(c.get("name", "")), str(c.get("image", ""))) for c in containers)


class Kubelet:
    """All nodes' kubelets of one cluster, driven by store changes and a due-time queue."""

    def __init__(self, registry: Registry, start_delay: float, termination_delay: float) -> None:
        self.registry = registry
        self.start_delay = start_delay
        self.termination_delay = termination_delay
        self.starting: deque[Task] = deque()
        self.stopping: deque[Task] = deque()
        self.pending_start: set[str] = set()
        self.pending_stop: set[str] = set()
        self.ip_counter: dict[str, int] = {}
        registry.store.subscribe(self.observe, PODS.plural)

    def observe(self, change: Change) -> None:
        if change.resource != PODS.plural or change.type == DELETED:
            return
        obj = change.new.obj
        if not (obj.get("spec") or {}).get("nodeName"):
            return
        meta = obj["metadata"]
        key = change.key
        now = time.monotonic()
        if meta.get("deletionTimestamp"):
            grace = meta.get("deletionGracePeriodSeconds") or 0
            if grace and key not in self.pending_stop:
                self.pending_stop.add(key)
                self.stopping.append(Task(now + min(grace, self.termination_delay), key))
        elif (obj.get("status") or {}).get("phase") == "Pending" and key not in self.pending_start:
            self.pending_start.add(key)
            self.starting.append(Task(now + self.start_delay, key))

    def step(self, budget: int) -> int:
        """Start and stop the pods that are due, at most `budget` of each."""
        now = time.monotonic()
        done = 0
        while self.stopping and self.stopping[0].due <= now and done < budget:
            key = self.stopping.popleft().key
            self.pending_stop.discard(key)
            self._stop(key)
            done += 1
        started = 0
        while self.starting and self.starting[0].due <= now and started < budget:
            key = self.starting.popleft().key
            self.pending_start.discard(key)
            self._start(key)
            started += 1
        return done + started

    def _stop(self, key: str) -> None:
        entry = self.registry.store.get(PODS.plural, key)
        if entry is None or not entry.meta.get("deletionTimestamp"):
            return
        meta = entry.meta
        self.registry.delete(PODS, meta["namespace"], meta["name"], DeleteOptions(grace_seconds=0))

    def _start(self, key: str) -> None:
        entry = self.registry.store.get(PODS.plural, key)
        if entry is None or entry.meta.get("deletionTimestamp"):
            return
        status = entry.obj.get("status") or {}
        if status.get("phase") != "Pending":
            return
        node_name = entry.obj["spec"]["nodeName"]
        node = self.registry.store.get(NODES.plural, node_name)
        if node is None or not node_ready(node.obj):
            self.pending_start.add(key)
            self.starting.append(Task(time.monotonic() + self.start_delay, key))
            return
        self._run(entry, node)

    def _pod_ip(self, node: Entry) -> str:
        cidr = (node.obj.get("spec") or {}).get("podCIDR", "10.0.0.0/24")
        base = cidr.split("/")[0].rsplit(".", 1)[0]
        count = self.ip_counter.get(node.meta["name"], 0) % 253 + 1
        self.ip_counter[node.meta["name"]] = count
        return f"{base}.{count + 1}"

    def _run(self, entry: Entry, node: Entry) -> None:
        now = rfc3339(time.time())
        host_ip = next(
            (
                a["address"]
                for a in node.obj["status"].get("addresses", [])
                if a.get("type") == "InternalIP"
            ),
            "",
        )
        pod_ip = self._pod_ip(node)
        status = {
            **(entry.obj.get("status") or {}),
            "phase": "Running",
            "conditions": _ready_conditions(now),
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}],
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
            "startTime": now,
            "containerStatuses": _container_statuses(_names_images(entry.obj), now),
        }
        self.registry.set_status(PODS, entry, status)

    def set_pods_ready(self, node_name: str, pod_keys: set[str], ready: bool) -> None:
        """Flip the Ready condition of the running pods on a node (node lost or back)."""
        value = "True" if ready else "False"
        for key in sorted(pod_keys):
            entry = self.registry.store.get(PODS.plural, key)
            if entry is None or (entry.obj.get("status") or {}).get("phase") != "Running":
                continue
            status = entry.obj["status"]
            conditions = [
                {**c, "status": value, "lastTransitionTime": rfc3339(time.time())}
                if c.get("type") in ("Ready", "ContainersReady") and c.get("status") != value
                else c
                for c in status.get("conditions") or []
            ]
            obj = {**entry.obj, "status": {**status, "conditions": conditions}}
            self.registry.replace_entry(PODS, entry, obj, "status")
