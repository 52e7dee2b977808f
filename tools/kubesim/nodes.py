"""Simulated nodes, KWOK style: Node objects with capacity, topology labels and conditions."""

from __future__ import annotations

import time
import uuid
from typing import Any

from tools.kubesim.config import ClusterSpec, SimConfig
from tools.kubesim.units import rfc3339

KUBELET_VERSION = "v1.31.0-kubesim"
NOT_READY_TAINT = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
UNREACHABLE_TAINT = {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}


def _conditions(ready: bool, since: str) -> list[dict[str, Any]]:
    def cond(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
        return {
            "type": kind,
            "status": status,
            "lastHeartbeatTime": since,
            "lastTransitionTime": since,
            "reason": reason,
            "message": message,
        }

    ready_cond = (
        cond("Ready", "True", "KubeletReady", "kubelet is posting ready status")
        if ready
        else cond("Ready", "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
    )
    return [
        cond(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        cond(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        ready_cond,
    ]


def node_ready(node: dict[str, Any]) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def with_readiness(node: dict[str, Any], ready: bool) -> dict[str, Any]:
    """A copy of `node` with its Ready condition and the matching taint set as asked."""
    now = rfc3339(time.time())
    taints = [
        t
        for t in (node.get("spec") or {}).get("taints") or []
        if t.get("key") != UNREACHABLE_TAINT["key"]
    ]
    if not ready:
        taints.append({**UNREACHABLE_TAINT, "timeAdded": now})
    spec = {k: v for k, v in (node.get("spec") or {}).items() if k != "taints"}
    if taints:
        spec["taints"] = taints
    status = {**node["status"], "conditions": _conditions(ready, now)}
    return {**node, "spec": spec, "status": status}


class NodeFactory:
    """Builds the nodes of one cluster; immutable sub-objects are shared to keep them compact."""

    def __init__(self, config: SimConfig, cluster: ClusterSpec) -> None:
        self.cluster = cluster
        since = rfc3339(time.time())
        resources = {
            "cpu": config.node_cpu,
            "memory": config.node_memory,
            "pods": str(config.node_pods),
            "ephemeral-storage": "100Gi",
        }
        self.capacity = resources
        self.allocatable = dict(resources)
        self.conditions = _conditions(True, since)
        self.node_info = {
            "architecture": "amd64",
            "bootID": "",
            "containerRuntimeVersion": "kubesim://1.0",
            "kernelVersion": "6.1.0-kubesim",
            "kubeProxyVersion": KUBELET_VERSION,
            "kubeletVersion": KUBELET_VERSION,
            "machineID": "",
            "operatingSystem": "linux",
            "osImage": "kubesim",
            "systemUUID": "",
        }
        self.endpoints = {"kubeletEndpoint": {"Port": 10250}}
        self.instance_type = f"kubesim.{config.node_cpu}x{config.node_memory}".lower()
        self.since = since

    def name(self, index: int) -> str:
        return f"{self.cluster.name}-node-{index:05d}"

    def build(self, index: int) -> dict[str, Any]:
        name = self.name(index)
        host = index + 1
        ip = f"172.{16 + host // 65536}.{(host // 256) % 256}.{host % 256}"
        return {
            "kind": "Node",
            "apiVersion": "v1",
            "metadata": {
                "name": name,
                "uid": str(uuid.uuid4()),
                "creationTimestamp": self.since,
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "node.kubernetes.io/instance-type": self.instance_type,
                    "topology.kubernetes.io/region": self.cluster.region,
                    "topology.kubernetes.io/zone": self.cluster.zone,
                    "type": "kwok",
                },
                "annotations": {"kwok.x-k8s.io/node": "fake"},
            },
            "spec": {
                "podCIDR": f"10.{index // 256 % 256}.{index % 256}.0/24",
                "providerID": f"kubesim://{self.cluster.name}/{name}",
            },
            "status": {
                "capacity": self.capacity,
                "allocatable": self.allocatable,
                "conditions": self.conditions,
                "addresses": [
                    {"type": "InternalIP", "address": ip},
                    {"type": "Hostname", "address": name},
                ],
                "daemonEndpoints": self.endpoints,
                "nodeInfo": self.node_info,
                "phase": "Running",
            },
        }
