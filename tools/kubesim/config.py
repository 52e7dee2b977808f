"""Configuration of a simulated fleet and the placement of its clusters."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ClusterSpec:
    """Where one cluster lives and how big it is."""

    name: str
    region: str
    zone: str
    nodes: int


@dataclass
class SimConfig:
    """A fleet of `clusters` clusters of `nodes` nodes each, plus control-plane timings."""

    clusters: int = 1
    nodes: int = 3
    node_cpu: str = "32"
    node_memory: str = "128Gi"
    node_pods: int = 110
    regions: tuple[str, ...] = ("r1", "r2", "r3")
    zones_per_region: int = 2
    name_prefix: str = "c"
    history_size: int = 10_000
    bookmark_interval: float = 60.0
    watch_timeout: float = 1800.0
    kubelet_delay: float = 0.5
    termination_delay: float = 0.5
    tick: float = 0.05
    tick_budget: int = 64
    max_events: int = 2000
    seed: int = 0
    controllers: bool = True
    cluster_nodes: dict[str, int] = field(default_factory=dict)

    def cluster_specs(self) -> list[ClusterSpec]:
        """Clusters c1..cN spread round-robin over regions, then over each region's zones."""
        specs = []
        regions = self.regions or ("r1",)
        for i in range(self.clusters):
            region = regions[i % len(regions)]
            zone_idx = (i // len(regions)) % max(1, self.zones_per_region)
            name = f"{self.name_prefix}{i + 1}"
            nodes = self.cluster_nodes.get(name, self.nodes)
            specs.append(ClusterSpec(name, region, f"{region}-{chr(ord('a') + zone_idx)}", nodes))
        return specs
