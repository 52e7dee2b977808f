"""The Deployment manifest: deterministic labels, and updates that scale without a rollout."""

from __future__ import annotations

import json

from worker.kube_adapter import parse_deployment
from worker.manifest import Desired, WorkloadRef, build, update
from worker.model import Res


def desired(epoch: int = 1, replicas: int = 2, reservation: str = "r1") -> Desired:
    return Desired(WorkloadRef("ns", "web", reservation, epoch), replicas, Res(500, 2**28), "", {})


def stored(manifest: dict[str, object]) -> dict[str, object]:
    """What the API server would return: the manifest with a resourceVersion."""
    copy = json.loads(json.dumps(manifest))
    copy["metadata"]["resourceVersion"] = "7"
    return copy


def test_build_labels_pods_and_selects_by_workload() -> None:
    manifest = build(desired())
    labels = manifest["spec"]["template"]["metadata"]["labels"]
    assert labels == {"fed.io/workload": "ns.web", "fed.io/reservation": "r1", "fed.io/epoch": "1"}
    assert manifest["spec"]["selector"] == {"matchLabels": {"fed.io/workload": "ns.web"}}
    requests = manifest["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
    assert requests == {"cpu": "500m", "memory": str(2**28)}


def test_update_is_none_when_nothing_changed_and_keeps_the_template_on_a_new_epoch() -> None:
    existing = parse_deployment(stored(build(desired())))
    assert update(existing, desired()) is None
    scaled = update(existing, desired(epoch=2, replicas=5))
    assert scaled is not None
    assert scaled["spec"]["replicas"] == 5
    assert scaled["metadata"]["labels"]["fed.io/epoch"] == "2"
    assert scaled["metadata"]["resourceVersion"] == "7"
    assert scaled["spec"]["template"] == existing.manifest["spec"]["template"]


def test_update_replaces_the_template_when_the_reservation_changes() -> None:
    existing = parse_deployment(stored(build(desired())))
    moved = update(existing, desired(epoch=2, reservation="r2"))
    assert moved is not None
    assert moved["spec"]["template"]["metadata"]["labels"]["fed.io/reservation"] == "r2"


def test_long_workload_labels_are_hashed_to_63_characters() -> None:
    ref = WorkloadRef("n" * 40, "w" * 40, "", 0)
    assert len(ref.label) == 63 and ref.label != WorkloadRef("n" * 40, "w" * 41, "", 0).label
