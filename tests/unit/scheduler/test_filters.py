"""Table-driven tests of each filter plugin."""

from __future__ import annotations

import pytest
from unit.scheduler.scheduler_fleet import GI, Fake

from fed.v1 import types_pb2
from proxy.scheduler.capacity import ClusterCapacity
from proxy.scheduler.framework import ClusterState, FilterPlugin, PluginContext
from proxy.scheduler.plugins.cluster_selector import ClusterSelectorFilter
from proxy.scheduler.plugins.cluster_state import ClusterStateFilter
from proxy.scheduler.plugins.fit import FitFilter
from proxy.scheduler.plugins.taint_toleration import TaintTolerationFilter
from proxy.scheduler.plugins.topology_affinity import TopologyAffinityFilter
from proxy.scheduler.resources import Quantity
from proxy.scheduler.selection import Selection
from proxy.scheduler.status import Code

ONE = Quantity(1000, GI, 0, 1)


def run(
    plugin: FilterPlugin, cluster: Fake, policy: types_pb2.PlacementPolicy | None = None
) -> tuple[Code, str]:
    view = cluster.view()
    capacity = ClusterCapacity.build(view, [], Quantity(), 1.0)
    context = PluginContext(ONE, Selection.from_policy(policy or types_pb2.PlacementPolicy()))
    status = plugin.filter(context, ClusterState(view, capacity))
    return status.code, status.message()


OK = Code.SUCCESS
NO = Code.UNSCHEDULABLE
NEVER = Code.UNSCHEDULABLE_AND_UNRESOLVABLE


@pytest.mark.parametrize(
    ("cluster", "code", "reason"),
    [
        (Fake("a"), OK, "active and ready"),
        (Fake("a", state=types_pb2.ADMIN_STATE_CORDONED), NEVER, "cluster is cordoned"),
        (Fake("a", state=types_pb2.ADMIN_STATE_DRAINING), NEVER, "cluster is draining"),
        (Fake("a", state=types_pb2.ADMIN_STATE_REMOVING), NEVER, "cluster is removing"),
        (Fake("a", health=types_pb2.CLUSTER_HEALTH_SUSPECT), NO, "cluster health is suspect"),
        (Fake("a", health=types_pb2.CLUSTER_HEALTH_FAILED), NO, "cluster health is failed"),
        (Fake("a", health=types_pb2.CLUSTER_HEALTH_UNKNOWN), NO, "cluster health is unknown"),
    ],
)
def test_cluster_state(cluster: Fake, code: Code, reason: str) -> None:
    assert run(ClusterStateFilter(), cluster) == (code, reason)


def test_cluster_state_reason_includes_the_admins_reason() -> None:
    cluster = Fake("a", state=types_pb2.ADMIN_STATE_CORDONED)
    view = cluster.view()
    view.spec.state_reason = "kernel upgrade"
    context = PluginContext(ONE, Selection())
    status = ClusterStateFilter().filter(context, ClusterState(view, None))
    assert status.message() == "cluster is cordoned (kernel upgrade)"


def tolerations(*items: tuple[str, str, str, str]) -> types_pb2.PlacementPolicy:
    return types_pb2.PlacementPolicy(
        tolerations=[
            types_pb2.Toleration(key=k, operator=o, value=v, effect=e) for k, o, v, e in items
        ]
    )


GPU_NO_SCHEDULE = (("gpu", "true", "NoSchedule"),)


@pytest.mark.parametrize(
    ("taints", "policy", "code"),
    [
        ((), tolerations(), OK),
        (GPU_NO_SCHEDULE, tolerations(), NEVER),
        ((("gpu", "true", "NoExecute"),), tolerations(), NEVER),
        ((("gpu", "true", "PreferNoSchedule"),), tolerations(), OK),
        (GPU_NO_SCHEDULE, tolerations(("gpu", "Equal", "true", "NoSchedule")), OK),
        (GPU_NO_SCHEDULE, tolerations(("gpu", "", "true", "")), OK),
        (GPU_NO_SCHEDULE, tolerations(("gpu", "Equal", "false", "")), NEVER),
        (GPU_NO_SCHEDULE, tolerations(("gpu", "Exists", "", "")), OK),
        (GPU_NO_SCHEDULE, tolerations(("gpu", "Exists", "", "NoExecute")), NEVER),
        (GPU_NO_SCHEDULE, tolerations(("", "Exists", "", "")), OK),
        (GPU_NO_SCHEDULE, tolerations(("other", "Exists", "", "")), NEVER),
    ],
)
def test_taint_toleration(
    taints: tuple[tuple[str, str, str], ...], policy: types_pb2.PlacementPolicy, code: Code
) -> None:
    assert run(TaintTolerationFilter(), Fake("a", taints=taints), policy)[0] is code


def selector(
    labels: dict[str, str] | None = None, *expressions: tuple[str, str, list[str]]
) -> types_pb2.PlacementPolicy:
    return types_pb2.PlacementPolicy(
        cluster_selector=types_pb2.LabelSelector(
            match_labels=labels or {},
            match_expressions=[
                types_pb2.LabelSelectorRequirement(key=k, operator=o, values=v)
                for k, o, v in expressions
            ],
        )
    )


TIER = {"tier": "gold"}


@pytest.mark.parametrize(
    ("labels", "policy", "code"),
    [
        (TIER, selector(), OK),
        (TIER, selector({"tier": "gold"}), OK),
        (TIER, selector({"tier": "silver"}), NEVER),
        ({}, selector({"tier": "gold"}), NEVER),
        (TIER, selector(None, ("tier", "In", ["gold", "silver"])), OK),
        (TIER, selector(None, ("tier", "In", ["silver"])), NEVER),
        ({}, selector(None, ("tier", "In", ["gold"])), NEVER),
        (TIER, selector(None, ("tier", "NotIn", ["silver"])), OK),
        (TIER, selector(None, ("tier", "NotIn", ["gold"])), NEVER),
        ({}, selector(None, ("tier", "NotIn", ["gold"])), OK),
        (TIER, selector(None, ("tier", "Exists", [])), OK),
        ({}, selector(None, ("tier", "Exists", [])), NEVER),
        (TIER, selector(None, ("tier", "DoesNotExist", [])), NEVER),
        ({}, selector(None, ("tier", "DoesNotExist", [])), OK),
        (TIER, selector(None, ("topology.kubernetes.io/region", "In", ["eu"])), OK),
        (TIER, selector({"tier": "gold"}, ("tier", "Exists", []), ("pci", "Exists", [])), NEVER),
    ],
)
def test_cluster_selector(
    labels: dict[str, str], policy: types_pb2.PlacementPolicy, code: Code
) -> None:
    assert run(ClusterSelectorFilter(), Fake("a", labels=labels), policy)[0] is code


@pytest.mark.parametrize(
    ("regions", "zones", "code", "reason"),
    [
        ([], [], OK, "region and zone allowed"),
        (["eu", "us"], [], OK, "region and zone allowed"),
        (["us"], [], NEVER, "region eu not in us"),
        ([], ["eu-a"], OK, "region and zone allowed"),
        ([], ["eu-b", "us-a"], NEVER, "zone eu-a not in eu-b, us-a"),
    ],
)
def test_topology_affinity(regions: list[str], zones: list[str], code: Code, reason: str) -> None:
    policy = types_pb2.PlacementPolicy(regions=regions, zones=zones)
    assert run(TopologyAffinityFilter(), Fake("a"), policy) == (code, reason)


@pytest.mark.parametrize(
    ("cluster", "code", "reason"),
    [
        (Fake("a", nodes=2, node_cpu=2000), OK, "4 replicas fit"),
        (Fake("a", nodes=1, node_cpu=900), NO, "aggregate headroom exhausted: cpu_millis"),
        (Fake("a", nodes=4, node_cpu=800), NO, "no node has room"),
        (
            Fake("a", foreign=Quantity(0, 128 * GI, 0, 0)),
            NO,
            "aggregate headroom exhausted: memory",
        ),
        (Fake("a", with_status=False), NO, "no status published"),
    ],
)
def test_fit(cluster: Fake, code: Code, reason: str) -> None:
    got_code, got_reason = run(FitFilter(), cluster)
    assert got_code is code
    assert got_reason.startswith(reason)
