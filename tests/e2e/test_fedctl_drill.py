"""A drill cycle on a region through fedctl: plan, execute, report, restore (all -o json)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fedctl_support import Fedctl

from tools.devstack.stack import StackError, down

pytestmark = pytest.mark.integration
FAST = [
    "--set", "election.ttl_s=2", "--set", "election.safety_margin_s=0.5",
    "--set", "observability.log_level=WARNING", "--proxy-set", "proxy.bind_period_s=0.3",
    "--worker-set", "worker.status_period_s=0.5",
]  # fmt: skip
REGION_R1 = {"c1", "c4"}  # kubesim spreads c1..c4 over r1, r2, r3, r1


@pytest.fixture(scope="module")
def fedctl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fedctl]:
    home = tmp_path_factory.mktemp("fedctl-home")
    directory = tmp_path_factory.mktemp("drill-stack")
    runner = Fedctl(home)
    try:
        runner.run(
            "dev", "up", "--clusters", "4", "--nodes", "3", "--node-cpu", "8",
            "--node-memory", "32Gi", "--proxies", "3", "--workers", "2",
            "--dir", str(directory), *FAST,
        )  # fmt: skip
        yield runner
    finally:
        with contextlib.suppress(StackError):
            down(Path(directory))


def placed_on(fedctl: Fedctl) -> set[str]:
    workloads = fedctl.json("workload", "list", "-n", "team")["workloads"]
    return {p["cluster"] for w in workloads for p in w["placement"]["clusters"] if p["replicas"]}


def states(fedctl: Fedctl) -> dict[str, str]:
    return {
        c["spec"]["name"]: c["spec"]["state"] for c in fedctl.json("cluster", "list")["clusters"]
    }


def test_drill_plan_execute_report_restore_on_a_region(fedctl: Fedctl) -> None:
    for index in range(8):
        fedctl.run("workload", "place", f"svc-{index}", "-n", "team", "--replicas", "1",
                   "--cpu", "500m", "--memory", "256Mi", "--image", "nginx")  # fmt: skip
    before = placed_on(fedctl)
    assert before & REGION_R1, "the spread left region r1 empty"

    plan = fedctl.json("drill", "plan", "--region", "r1")
    assert plan["phase"] == "OPERATION_PHASE_PLANNED" and plan["dry_run"] is True
    assert {s["from_cluster"] for s in plan["steps"]} == {"c1,c4"}
    assert not {s["to_cluster"] for s in plan["steps"]} & REGION_R1
    assert set(states(fedctl).values()) == {"ADMIN_STATE_ACTIVE"}, "a plan changes nothing"

    done = fedctl.json("drill", "execute", "--region", "r1")
    assert done["phase"] == "OPERATION_PHASE_SUCCEEDED", done
    assert not placed_on(fedctl) & REGION_R1
    assert {states(fedctl)[c] for c in REGION_R1} == {"ADMIN_STATE_CORDONED"}

    report = fedctl.json("drill", "report", done["id"])
    assert report["replicas_moved"] == report["replicas_total"] > 0
    assert report["rto_seconds"] > 0
    assert [e["message"] for e in report["timeline"]][-1].startswith("finished")
    print(
        f"\ndrill of region r1: {report['replicas_moved']} replicas, RTO {report['rto_seconds']} s"
    )

    restored = fedctl.json("drill", "restore", "--region", "r1")
    assert restored["restores"] == done["id"]
    assert restored["phase"] == "OPERATION_PHASE_SUCCEEDED", restored
    assert set(states(fedctl).values()) == {"ADMIN_STATE_ACTIVE"}
    assert restored["replicas_moved"] == report["replicas_moved"], "everything failed back"
    assert placed_on(fedctl) & REGION_R1 == before & REGION_R1
