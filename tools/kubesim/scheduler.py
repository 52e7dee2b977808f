"""A minimal, incremental kube-scheduler: binds pending pods to nodes where they fit.

Per-node free capacity is maintained from store changes (never recomputed); each tick
schedules a bounded number of pods; pods that fit nowhere are parked until capacity frees up.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tools.kubesim.events import EventRecorder
from tools.kubesim.nodes import node_ready
from tools.kubesim.registry import Registry
from tools.kubesim.resources import NODES, PODS
from tools.kubesim.store import DELETED, Change, Entry
from tools.kubesim.units import memory_bytes, milli_cpu, pod_requests, rfc3339

SCHEDULER_NAME = "default-scheduler"
SAMPLE = 4
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"


@dataclass(slots=True)
class NodeState:
    """What the scheduler knows about one node: allocatable, use and scheduling filters."""

    name: str
    cpu: int = 0
    memory: int = 0
    pods: int = 0
    used_cpu: int = 0
    used_memory: int = 0
    used_pods: int = 0
    schedulable: bool = True
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, Any]] = field(default_factory=list)
    pod_keys: set[str] = field(default_factory=set)

    def update(self, node: dict[str, Any]) -> None:
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        spec = node.get("spec") or {}
        self.cpu = milli_cpu(allocatable.get("cpu", 0))
        self.memory = memory_bytes(allocatable.get("memory", 0))
        self.pods = int(allocatable.get("pods", 110))
        self.labels = node["metadata"].get("labels") or {}
        self.taints = [
            t for t in spec.get("taints") or [] if t.get("effect") in ("NoSchedule", "NoExecute")
        ]
        if spec.get("unschedulable"):
            self.taints.append({"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"})
        self.schedulable = node_ready(node)

    @property
    def free_cpu(self) -> int:
        return self.cpu - self.used_cpu

    @property
    def free_memory(self) -> int:
        return self.memory - self.used_memory


@dataclass(slots=True)
class Placed:
    node: str
    cpu: int
    memory: int


def tolerates(tolerations: list[dict[str, Any]], taint: dict[str, Any]) -> bool:
    """Whether any toleration matches `taint` (key, operator, value and effect)."""
    for tol in tolerations:
        if tol.get("effect") and tol["effect"] != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol["key"] == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and tol.get("value", "") == taint.get("value", ""):
            return True
    return False


def _canonical(value: Any) -> str:
    """A hashable form of a nodeSelector or tolerations list (most pods have neither)."""
    return json.dumps(value, sort_keys=True) if value else ""


@dataclass
class Verdict:
    """Why nodes were rejected, for the PodScheduled=False message."""

    cpu: int = 0
    memory: int = 0
    pods: int = 0
    selector: int = 0
    taint: int = 0
    not_ready: int = 0

    def message(self, total: int) -> str:
        reasons = [
            (self.cpu, "Insufficient cpu"),
            (self.memory, "Insufficient memory"),
            (self.pods, "Too many pods"),
            (self.selector, "node(s) didn't match Pod's node affinity/selector"),
            (self.taint, "node(s) had untolerated taint"),
            (self.not_ready, "node(s) were not ready"),
        ]
        parts = sorted(f"{n} {text}" for n, text in reasons if n)
        return f"0/{total} nodes are available: {', '.join(parts)}."


class Scheduler:
    """Binds pending pods of `default-scheduler`; keeps per-node free capacity incrementally."""

    def __init__(self, registry: Registry, recorder: EventRecorder) -> None:
        self.registry = registry
        self.recorder = recorder
        self.nodes: dict[str, NodeState] = {}
        self.order: list[str] = []
        self.cursor = 0
        self.placed: dict[str, Placed] = {}
        self.queue: deque[str] = deque()
        self.queued: set[str] = set()
        self.parked: set[str] = set()
        self.capacity_changed = False
        self.failed: dict[tuple[int, int, str, str], str] = {}
        registry.store.subscribe(self.observe, PODS.plural, NODES.plural)

    def observe(self, change: Change) -> None:
        if change.resource == PODS.plural:
            self._observe_pod(change)
        elif change.resource == NODES.plural:
            self._observe_node(change)

    def _observe_node(self, change: Change) -> None:
        name = change.key
        if change.type == DELETED:
            self.nodes.pop(name, None)
            self.order = [n for n in self.order if n != name]
            return
        state = self.nodes.get(name)
        if state is None:
            state = self.nodes[name] = NodeState(name)
            self.order.append(name)
        state.update(change.new.obj)
        self.capacity_changed = True

    def _observe_pod(self, change: Change) -> None:
        key = change.key
        obj = change.new.obj
        spec = obj.get("spec") or {}
        phase = (obj.get("status") or {}).get("phase")
        gone = change.type == DELETED or phase in ("Succeeded", "Failed")
        if gone:
            self._release(key)
            self.parked.discard(key)
            return
        node = spec.get("nodeName")
        if node:
            self.parked.discard(key)
            if key not in self.placed:
                self._account(key, node, spec)
        elif (
            spec.get("schedulerName", SCHEDULER_NAME) == SCHEDULER_NAME
            and not obj["metadata"].get("deletionTimestamp")
            and key not in self.queued
            and key not in self.parked
        ):
            self.queued.add(key)
            self.queue.append(key)

    def _account(self, key: str, node: str, spec: dict[str, Any]) -> None:
        cpu, memory = pod_requests(spec)
        self.placed[key] = Placed(node, cpu, memory)
        state = self.nodes.get(node)
        if state is not None:
            state.used_cpu += cpu
            state.used_memory += memory
            state.used_pods += 1
            state.pod_keys.add(key)

    def _release(self, key: str) -> None:
        placed = self.placed.pop(key, None)
        if placed is None:
            return
        state = self.nodes.get(placed.node)
        if state is not None:
            state.used_cpu -= placed.cpu
            state.used_memory -= placed.memory
            state.used_pods -= 1
            state.pod_keys.discard(key)
        self.capacity_changed = True

    def pods_on(self, node: str) -> set[str]:
        state = self.nodes.get(node)
        return state.pod_keys if state is not None else set()

    def step(self, budget: int) -> int:
        """Schedule up to `budget` queued pods; returns how many were attempted."""
        if self.capacity_changed and self.parked:
            for key in sorted(self.parked):
                self.queued.add(key)
                self.queue.append(key)
            self.parked.clear()
        self.capacity_changed = False
        self.failed.clear()
        done = 0
        while self.queue and done < budget:
            key = self.queue.popleft()
            self.queued.discard(key)
            entry = self.registry.store.get(PODS.plural, key)
            if entry is None or (entry.obj.get("spec") or {}).get("nodeName"):
                continue
            if entry.meta.get("deletionTimestamp"):
                continue
            self._schedule(key, entry)
            done += 1
        return done

    def _schedule(self, key: str, entry: Entry) -> None:
        """Bind `entry` or park it; pods equivalent to one that failed in this step (same
        requests, selector and tolerations; capacity only shrinks within a step) fail fast."""
        spec = entry.obj.get("spec") or {}
        cpu, memory = pod_requests(spec)
        signature = (
            cpu,
            memory,
            _canonical(spec.get("nodeSelector")),
            _canonical(spec.get("tolerations")),
        )
        message = self.failed.get(signature)
        if message is None:
            verdict = Verdict()
            node = self._pick(spec, cpu, memory, verdict)
            if node is not None:
                self.registry.assign(entry, node)
                return
            message = self.failed[signature] = verdict.message(len(self.nodes))
        self.parked.add(key)
        self._mark_unschedulable(entry, message)

    def _pick(self, spec: dict[str, Any], cpu: int, memory: int, verdict: Verdict) -> str | None:
        """Least-allocated node among the first SAMPLE feasible ones from a rotating cursor
        (so equal nodes are used round-robin)."""
        selector = spec.get("nodeSelector") or {}
        tolerations = spec.get("tolerations") or []
        order = self.order
        total = len(order)
        best, best_at, best_score, found = None, 0, -1.0, 0
        for step in range(total):
            at = (self.cursor + step) % total
            state = self.nodes[order[at]]
            if not self._fits(state, selector, tolerations, cpu, memory, verdict):
                continue
            score = (
                state.free_cpu / max(state.cpu, 1)
                + state.free_memory / max(state.memory, 1)
                + (state.pods - state.used_pods) / max(state.pods, 1)
            )
            if score > best_score:
                best, best_at, best_score = state, at, score
            found += 1
            if found >= SAMPLE:
                break
        if best is None:
            return None
        self.cursor = (best_at + 1) % total
        return best.name

    @staticmethod
    def _fits(
        state: NodeState,
        selector: dict[str, str],
        tolerations: list[dict[str, Any]],
        cpu: int,
        memory: int,
        verdict: Verdict,
    ) -> bool:
        if not state.schedulable:
            verdict.not_ready += 1
            return False
        if selector and any(state.labels.get(k) != v for k, v in selector.items()):
            verdict.selector += 1
            return False
        if state.taints and any(not tolerates(tolerations, t) for t in state.taints):
            verdict.taint += 1
            return False
        if state.used_pods >= state.pods:
            verdict.pods += 1
            return False
        if cpu > state.free_cpu:
            verdict.cpu += 1
            return False
        if memory > state.free_memory:
            verdict.memory += 1
            return False
        return True

    def _mark_unschedulable(self, entry: Entry, message: str) -> None:
        status = dict(entry.obj.get("status") or {})
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        previous = next(
            (c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None
        )
        if previous and previous.get("message") == message:
            return
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "False",
                "lastProbeTime": None,
                "lastTransitionTime": rfc3339(time.time()),
                "reason": "Unschedulable",
                "message": message,
            }
        )
        status["conditions"] = conditions
        updated = self.registry.set_status(PODS, entry, status)
        self.recorder.record(updated, "Warning", "FailedScheduling", message, SCHEDULER_NAME)
