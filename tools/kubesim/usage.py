"""The usage model behind metrics.k8s.io: each pod uses a fraction of its requests that
depends on its workload and drifts over time, so some workloads and nodes run hot."""

from __future__ import annotations

import functools
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tools.kubesim.registry import Registry
from tools.kubesim.resources import NODES, PODS
from tools.kubesim.selectors import parse_label_selector
from tools.kubesim.store import Entry
from tools.kubesim.units import format_memory_ki, format_nano_cpu, memory_bytes, milli_cpu, rfc3339

WINDOW = "30s"
SYSTEM_CPU_MILLI = 150
SYSTEM_MEMORY = 768 * 1024**2
HOT_SHARE = 0.15


def stable_unit(text: str) -> float:
    """A stable pseudo-random number in [0, 1) for `text`."""
    return int(hashlib.blake2b(text.encode(), digest_size=8).hexdigest(), 16) / 2**64


@dataclass(frozen=True)
class Profile:
    """How one workload uses its requests: base fraction, swing and period."""

    cpu_base: float
    cpu_swing: float
    memory_base: float
    period: float
    phase: float

    @classmethod
    def of(cls, workload: str, seed: int) -> Profile:
        hot = stable_unit(f"{seed}:{workload}:hot") < HOT_SHARE
        cpu_base = (
            0.85 + 0.3 * stable_unit(f"{seed}:{workload}:cpu")
            if hot
            else 0.1 + 0.6 * stable_unit(f"{seed}:{workload}:cpu")
        )
        return cls(
            cpu_base,
            0.05 + 0.2 * stable_unit(f"{seed}:{workload}:swing"),
            0.3 + 0.6 * stable_unit(f"{seed}:{workload}:mem"),
            120 + 1080 * stable_unit(f"{seed}:{workload}:period"),
            2 * math.pi * stable_unit(f"{seed}:{workload}:phase"),
        )

    @staticmethod
    @functools.lru_cache(maxsize=65_536)
    def cached(workload: str, seed: int) -> Profile:
        return Profile.of(workload, seed)

    def fractions(self, now: float) -> tuple[float, float]:
        wave = math.sin(2 * math.pi * now / self.period + self.phase)
        cpu = max(0.02, self.cpu_base + self.cpu_swing * wave)
        memory = max(0.05, min(1.0, self.memory_base + 0.05 * wave))
        return cpu, memory


def workload_of(pod: dict[str, Any]) -> str:
    meta = pod["metadata"]
    for ref in meta.get("ownerReferences") or ():
        if ref.get("controller"):
            return f"{meta.get('namespace')}/{ref.get('kind')}/{ref.get('name')}"
    labels = meta.get("labels") or {}
    app = labels.get("app") or labels.get("app.kubernetes.io/name")
    return (
        f"{meta.get('namespace')}/app/{app}"
        if app
        else f"{meta.get('namespace')}/pod/{meta['name']}"
    )


class UsageModel:
    """Computes NodeMetrics and PodMetrics on demand from the store (no stored samples)."""

    def __init__(
        self, registry: Registry, pods_on: Callable[[str], set[str]], seed: int = 0
    ) -> None:
        self.registry = registry
        self.pods_on = pods_on
        self.seed = seed
        self.clock: Callable[[], float] = time.time

    def _container_usage(self, pod: dict[str, Any], now: float) -> list[tuple[str, float, float]]:
        cpu_frac, mem_frac = Profile.cached(workload_of(pod), self.seed).fractions(now)
        out = []
        for container in (pod.get("spec") or {}).get("containers") or ():
            requests = (container.get("resources") or {}).get("requests") or {}
            cpu = milli_cpu(requests.get("cpu", "10m")) or 10
            memory = memory_bytes(requests.get("memory", "16Mi")) or 16 * 1024**2
            out.append((container.get("name", ""), cpu * cpu_frac, memory * mem_frac))
        return out

    @staticmethod
    def _running(pod: Entry | None) -> bool:
        return pod is not None and (pod.obj.get("status") or {}).get("phase") == "Running"

    def node_usage(self, name: str, now: float) -> tuple[float, float]:
        """(milli-cpu, bytes) used on node `name` at `now`."""
        node_noise = 0.5 + stable_unit(f"{self.seed}:{name}:node")
        cpu, memory = SYSTEM_CPU_MILLI * node_noise, SYSTEM_MEMORY * node_noise
        for key in self.pods_on(name):
            pod = self.registry.store.get(PODS.plural, key)
            if pod is None or not self._running(pod):
                continue
            for _, c, m in self._container_usage(pod.obj, now):
                cpu += c
                memory += m
        return cpu, memory

    def node_metrics(self, name: str | None, labels: str) -> list[dict[str, Any]]:
        selector = parse_label_selector(labels)
        now = self.clock()
        table = self.registry.store.table(NODES.plural)
        names = [name] if name is not None else table.sorted_keys()
        out = []
        for node_name in names:
            node = table.entries.get(node_name)
            if node is None or not selector.matches(node.labels):
                continue
            cpu, memory = self.node_usage(node_name, now)
            out.append(
                {
                    "kind": "NodeMetrics",
                    "apiVersion": "metrics.k8s.io/v1beta1",
                    "metadata": {
                        "name": node_name,
                        "creationTimestamp": rfc3339(now),
                        "labels": node.labels,
                    },
                    "timestamp": rfc3339(now),
                    "window": WINDOW,
                    "usage": {"cpu": format_nano_cpu(cpu), "memory": format_memory_ki(memory)},
                }
            )
        return out

    def pod_metrics(
        self, namespace: str | None, name: str | None, labels: str
    ) -> list[dict[str, Any]]:
        selector = parse_label_selector(labels)
        now = self.clock()
        table = self.registry.store.table(PODS.plural)
        if name is not None and namespace:
            keys: list[str] = [f"{namespace}/{name}"]
        else:
            keys = list(table.keys_from(f"{namespace}/" if namespace else "", ""))
        out = []
        for key in keys:
            pod = table.entries.get(key)
            if pod is None or not self._running(pod) or not selector.matches(pod.labels):
                continue
            meta = pod.meta
            containers = [
                {"name": n, "usage": {"cpu": format_nano_cpu(c), "memory": format_memory_ki(m)}}
                for n, c, m in self._container_usage(pod.obj, now)
            ]
            out.append(
                {
                    "kind": "PodMetrics",
                    "apiVersion": "metrics.k8s.io/v1beta1",
                    "metadata": {
                        "name": meta["name"],
                        "namespace": meta["namespace"],
                        "creationTimestamp": rfc3339(now),
                        "labels": meta.get("labels") or {},
                    },
                    "timestamp": rfc3339(now),
                    "window": WINDOW,
                    "containers": containers,
                }
            )
        return out
