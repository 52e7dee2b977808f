"""The worker's settings: the common sections plus the `worker` section."""

from __future__ import annotations

import dataclasses

from common.settings import CommonSettings, SettingsError, setting, setting_factory


def _cpu_grades() -> list[int]:
    return [0, 250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000]


def _memory_grades() -> list[int]:
    gib = 1024**3
    return [0, gib // 2, gib, 2 * gib, 4 * gib, 8 * gib, 16 * gib, 32 * gib, 64 * gib, 128 * gib]


def _gpu_grades() -> list[int]:
    return [0, 1, 2, 4, 8]


def _pod_grades() -> list[int]:
    """Powers of two up to the kubelet's default 110: a node with 77 free slots shows 64.
    With [0, 1, 8, 32, 110] it showed 32, and a drill moving ~390 replicas onto two
    six-node clusters found room for only 384 until the first moves' pods appeared."""
    return [0, 1, 8, 16, 32, 64, 110]


@dataclasses.dataclass
class WorkerSection:
    listen: str = setting(
        "127.0.0.1:0", unit="host:port", why="loopback and a free port unless told otherwise"
    )
    id: str = setting("", unit="name", why="empty derives worker-<host>-<pid>")
    lease_ttl_s: int = setting(
        5, unit="s", why="a dead worker leaves the registry within this; etcd needs >= 2 s"
    )
    kube_threads: int = setting(
        16,
        unit="threads",
        why="bounds concurrent blocking Kubernetes requests (applies, lists, metrics)",
    )
    watch_threads: int = setting(
        96,
        unit="threads",
        why="each watch stream holds a thread: three per served cluster (nodes, pods, the "
        "federation's Deployments), so 32 clusters",
    )
    kube_timeout_s: float = setting(
        10.0, unit="s", why="a Kubernetes request without a gRPC deadline gives up after this"
    )
    list_page_size: int = setting(
        500, unit="objects", why="pages keep the memory of a 50,000-pod list bounded"
    )
    watch_timeout_s: int = setting(
        120, unit="s", why="the server ends each watch after this; it is resumed by rv"
    )
    status_period_s: float = setting(
        2.0, unit="s", why="the leader's health controller expects a heartbeat this often"
    )
    status_min_interval_s: float = setting(
        0.2, unit="s", why="bounds status writes when the cluster changes constantly"
    )
    usage_period_s: float = setting(
        5.0, unit="s", why="metrics-server itself scrapes every 15 s or so; faster is noise"
    )
    usage_window_s: float = setting(
        300.0, unit="s", why="the recent usage peak (p95) is taken over this window"
    )
    api_window_s: float = setting(
        60.0, unit="s", why="API latency p99 and error rate are taken over this window"
    )
    hot_watermark: float = setting(
        0.8, unit="fraction", why="a node using more than this of its cpu or memory is hot"
    )
    reference_cpu_millis: int = setting(
        1000, unit="millicores", why="the reference shape for the fragmentation index"
    )
    reference_memory_bytes: int = setting(
        2 * 1024**3, unit="bytes", why="the reference shape for the fragmentation index"
    )
    cpu_grades: list[int] = setting_factory(
        _cpu_grades, unit="millicores", why="lower bounds of the node free-cpu grades"
    )
    memory_grades: list[int] = setting_factory(
        _memory_grades, unit="bytes", why="lower bounds of the node free-memory grades"
    )
    gpu_grades: list[int] = setting_factory(
        _gpu_grades, unit="devices", why="lower bounds of the node free-gpu grades"
    )
    pod_grades: list[int] = setting_factory(
        _pod_grades, unit="pods", why="lower bounds of the node free-pod-slot grades"
    )
    crash_after_create: bool = setting(
        False,
        unit="bool",
        why="test-only fault hook: exit right after creating a Deployment, before replying",
    )

    def __post_init__(self) -> None:
        if self.lease_ttl_s < 2:
            raise SettingsError("worker.lease_ttl_s must be at least 2")
        if self.kube_threads < 1 or self.watch_threads < 3:
            raise SettingsError("worker.kube_threads >= 1 and worker.watch_threads >= 3")
        for name in ("cpu_grades", "memory_grades", "gpu_grades", "pod_grades"):
            grades = getattr(self, name)
            if not grades or grades[0] != 0 or grades != sorted(set(grades)):
                raise SettingsError(f"worker.{name} must be increasing and start at 0")


@dataclasses.dataclass
class WorkerSettings(CommonSettings):
    worker: WorkerSection = setting_factory(
        WorkerSection, unit="section", why="the per-cluster agents"
    )
