"""The placement engine: filter, score and divide replicas over the fleet, with no I/O."""

from proxy.scheduler.decision import Assignment, Changes, Decision
from proxy.scheduler.diagnosis import Diagnosis
from proxy.scheduler.engine import Engine, Outcome
from proxy.scheduler.model import ClusterView, Holding, PlacementRequest, Snapshot
from proxy.scheduler.policy import Policy, PolicyError, ScoreSpec
from proxy.scheduler.status import Code, Status

__all__ = [
    "Assignment",
    "Changes",
    "ClusterView",
    "Code",
    "Decision",
    "Diagnosis",
    "Engine",
    "Holding",
    "Outcome",
    "PlacementRequest",
    "Policy",
    "PolicyError",
    "ScoreSpec",
    "Snapshot",
    "Status",
]
