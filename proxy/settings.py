"""The proxy's settings: the common sections plus its own (loaded by common.settings).

`policies` names scheduling policies that requests choose with `spec.policy.name`, e.g.

    policies:
      batch:
        filters: [cluster_state, taint_toleration, cluster_selector, topology_affinity, fit]
        scores:
          free_capacity: {weight: 2}
          health: {weight: 1, args: {bad_latency_ms: 500}}
        default_overcommit: 1.2

Omitted keys keep the defaults of proxy.scheduler.policy; a policy named `default` replaces
the one requests get without a name. Flags and the environment work too, values as strings
(`--set policies.batch.filters=cluster_state,fit --set policies.batch.scores.health.weight=2`).
They are validated at load (the error names the field) and reloaded on SIGHUP without a
restart (see proxy.__main__); the other settings need one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.settings import CommonSettings, SettingsError, setting, setting_factory
from proxy.scheduler.policy import Policy, PolicyError, policy_from_mapping
from proxy.scheduler.registry import default_registry


@dataclass
class ProxySection:
    listen: str = setting(
        "127.0.0.1:0", unit="host:port", why="loopback and a free port unless told otherwise"
    )
    id: str = setting("", unit="name", why="empty derives one from the host name and pid")
    batch_window_ms: float = setting(
        2.0,
        unit="ms",
        why="long enough to merge concurrent requests into one etcd txn, short next to a p99",
    )
    batch_max: int = setting(
        256, unit="requests", why="bounds the work of one scheduling round and its etcd txns"
    )
    request_ttl_s: int = setting(
        3600, unit="s", why="clients retry for minutes, not hours; records expire after this"
    )
    forward_timeout_s: float = setting(
        10.0, unit="s", why="a follower waits this long for the leader before UNAVAILABLE"
    )
    worker_timeout_s: float = setting(
        10.0, unit="s", why="a worker's apply creates a Deployment: seconds, not minutes"
    )
    bind_period_s: float = setting(
        1.0, unit="s", why="how often the binder re-checks phases it has not heard about"
    )
    bind_batch_window_ms: float = setting(
        1.0,
        unit="ms",
        why="a worker's calls for one cluster within this go out as one Batch RPC",
    )
    bind_parallelism: int = setting(
        128,
        unit="workloads",
        why="bound at once; their calls to one worker for one cluster share Batch RPCs",
    )
    status_stale_s: float = setting(
        15.0,
        unit="s",
        why="a cluster whose status is older than this is not Ready (three missed periods)",
    )
    workers_per_cluster: int = setting(
        1, unit="workers", why="one suffices for small clusters; raise for big or busy ones"
    )
    member_ttl_s: int = setting(5, unit="s", why="a dead proxy leaves the topology within this")
    abandoned_sweep_s: float = setting(
        30.0,
        unit="s",
        why="replicas a force-removed cluster held that fit nowhere are tried again this often",
    )
    compaction_interval_s: float = setting(
        300.0,
        unit="s",
        why="the leader compacts etcd's history to what it had seen one interval before, as "
        "kube-apiserver does (its default is 5 min): an etcd that nothing compacts grows with "
        "every status heartbeat until its space quota refuses writes; 0 leaves it to etcd's own "
        "--auto-compaction",
    )
    drift_check_period_s: float = setting(
        60.0,
        unit="s",
        why="every Ready workload's Deployments are checked against its record once in this "
        "long, spread over it: one deleted or rescaled by hand in a member cluster is put back; "
        "0 trusts Ready for good",
    )
    full_gc_s: float = setting(
        300.0,
        unit="s",
        why="a full collection pauses in proportion to the records held; rarely, on a schedule",
    )

    def __post_init__(self) -> None:
        if self.compaction_interval_s < 0:
            raise SettingsError("proxy.compaction_interval_s must be 0 (off) or more")
        if self.drift_check_period_s < 0:
            raise SettingsError("proxy.drift_check_period_s must be 0 (off) or more")


@dataclass
class FailoverSection:
    auto: bool = setting(
        False,
        unit="bool",
        why="moving every workload off a cluster is an operator's call unless they opt in "
        "(workloads may opt in one by one with policy.auto_failover)",
    )
    health_period_s: float = setting(
        0.5, unit="s", why="how often the leader re-evaluates cluster health; cheap, in memory"
    )
    suspect_after_s: float = setting(
        6.0, unit="s", why="three missed status heartbeats (2 s apart) make a cluster Suspect"
    )
    fail_after_s: float = setting(
        5.0,
        unit="s",
        why="continuous trouble this long turns Suspect into Failed; any healthy sign resets it, "
        "so a flapping cluster stays Suspect and nothing migrates",
    )
    stabilise_s: float = setting(
        20.0, unit="s", why="healthy this long before Ready again (hysteresis against flapping)"
    )
    max_parallel_moves: int = setting(
        500,
        unit="workloads",
        why="rate limit of migrations in flight per operation; high, because a failed cluster's "
        "workloads are down until they move (drills may set it lower)",
    )
    retry_degraded_s: float = setting(
        10.0, unit="s", why="how often a failover retries replicas that fit nowhere yet"
    )
    shortfall_settle_s: float = setting(
        30.0,
        unit="s",
        why="an operation whose replicas fit nowhere ends Partial only after this long without "
        "progress, retrying them meanwhile: room held by moves in flight appears as their pods run",
    )


@dataclass
class RebalanceSection:
    auto: bool = setting(
        False, unit="bool", why="moving running workloads for balance is opt-in, like a descheduler"
    )
    period_s: float = setting(
        30.0, unit="s", why="heat changes over minutes; a round every half minute is enough"
    )
    hot_node_ratio: float = setting(
        0.3, unit="fraction", why="a cluster with more hot nodes than this is hot"
    )
    usage_watermark: float = setting(
        0.8, unit="fraction", why="a cluster whose cpu usage peak exceeds this share is hot"
    )
    cool_margin: float = setting(
        0.25,
        unit="fraction",
        why="targets must be this far below the watermarks, so a move never makes them hot",
    )
    max_workloads: int = setting(
        10, unit="workloads", why="global rate limit: workloads moved per round"
    )
    cooldown_s: float = setting(
        600.0, unit="s", why="a moved workload stays put this long (no ping-pong)"
    )


@dataclass
class ProxySettings(CommonSettings):
    proxy: ProxySection = setting_factory(ProxySection, unit="section", why="this service")
    failover: FailoverSection = setting_factory(
        FailoverSection, unit="section", why="health, failover and drills"
    )
    rebalance: RebalanceSection = setting_factory(
        RebalanceSection, unit="section", why="moving replicas off hot clusters"
    )
    policies: dict[str, dict[str, Any]] = setting_factory(
        dict,
        unit="name -> policy",
        why="none: every request gets the built-in default policy unless an operator names "
        "others (plugin lists, weights, arguments, overcommit)",
    )

    def __post_init__(self) -> None:
        self.scheduling_policies()

    def scheduling_policies(self) -> tuple[Policy, ...]:
        """The named policies, decoded and validated against the built-in plugins."""
        return decode_policies(self.policies)


def decode_policies(raw: dict[str, dict[str, Any]]) -> tuple[Policy, ...]:
    """Raise SettingsError naming the field, e.g. policies[batch].scores[health].weight."""
    registry = default_registry()
    try:
        return tuple(policy_from_mapping(name, data, registry) for name, data in raw.items())
    except PolicyError as error:
        raise SettingsError(f"{error.field}: {error.message}") from error
