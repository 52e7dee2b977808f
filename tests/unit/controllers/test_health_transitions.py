"""Health verdicts with hysteresis: fail only on continuous trouble, recover only when stable."""

from __future__ import annotations

from fed.v1 import types_pb2
from proxy.controllers.health import Signal, Tracker, step
from proxy.settings import FailoverSection

H = types_pb2.ClusterHealth
SETTINGS = FailoverSection(fail_after_s=5.0, stabilise_s=20.0)
OK, BAD = Signal(True, ""), Signal(False, "API unreachable")


def run(tracker: Tracker, timeline: list[tuple[float, Signal]], silent: bool = False) -> list[int]:
    """Feed (time, signal) pairs; returns the verdict after each."""
    verdicts = []
    for now, signal in timeline:
        step(tracker, signal, now, 1_000_000 + now, SETTINGS, silent)
        verdicts.append(tracker.health)
    return verdicts


def test_a_new_cluster_is_ready_at_its_first_healthy_sign() -> None:
    assert run(Tracker(), [(0, BAD), (1, OK)]) == [H.CLUSTER_HEALTH_UNKNOWN, H.CLUSTER_HEALTH_READY]


def test_continuous_trouble_fails_a_cluster_after_the_grace_period() -> None:
    tracker = Tracker(health=H.CLUSTER_HEALTH_READY)
    verdicts = run(tracker, [(0, BAD), (4.9, BAD), (5.0, BAD)])
    assert verdicts == [H.CLUSTER_HEALTH_SUSPECT, H.CLUSTER_HEALTH_SUSPECT, H.CLUSTER_HEALTH_FAILED]
    assert "API unreachable" in tracker.reason


def test_a_flapping_cluster_stays_suspect_and_never_fails() -> None:
    tracker = Tracker(health=H.CLUSTER_HEALTH_READY)
    timeline = [
        (t + offset, signal) for t in range(0, 60, 4) for offset, signal in ((0, BAD), (3, OK))
    ]
    verdicts = run(tracker, timeline)
    assert H.CLUSTER_HEALTH_FAILED not in verdicts
    assert verdicts[-1] == H.CLUSTER_HEALTH_SUSPECT


def test_recovery_needs_the_stabilisation_window() -> None:
    tracker = Tracker(health=H.CLUSTER_HEALTH_READY)
    run(tracker, [(0, BAD), (6, BAD)])
    assert tracker.health == H.CLUSTER_HEALTH_FAILED
    verdicts = run(tracker, [(10, OK), (29, OK), (30, OK)])
    assert verdicts == [H.CLUSTER_HEALTH_FAILED, H.CLUSTER_HEALTH_FAILED, H.CLUSTER_HEALTH_READY]


def test_when_every_cluster_is_silent_none_is_failed() -> None:
    tracker = Tracker(health=H.CLUSTER_HEALTH_READY)
    verdicts = run(tracker, [(0, BAD), (60, BAD)], silent=True)
    assert verdicts == [H.CLUSTER_HEALTH_SUSPECT, H.CLUSTER_HEALTH_SUSPECT]
    assert "suspecting the federation itself" in tracker.reason


def test_unchanged_verdicts_do_not_rewrite_the_record() -> None:
    tracker = Tracker(health=H.CLUSTER_HEALTH_READY)
    assert step(tracker, BAD, 0, 0, SETTINGS, False)
    assert not step(tracker, BAD, 1, 1, SETTINGS, False)
