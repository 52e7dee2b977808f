"""Cluster health with hysteresis, decided by the leader from the workers' heartbeats.

Ready -> Suspect as soon as a cluster's status is stale or its API unreachable. Suspect ->
Failed only after `fail_after_s` of continuous trouble: any healthy sign resets the clock,
so a flapping cluster stays Suspect (no new placements, nothing migrates). Back to Ready
only after `stabilise_s` of continuous health. When every cluster goes silent at once, the
likelier culprit is us (etcd, the workers, the network), so none is failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp

from common.election import Leadership
from common.etcd_store import Put
from common.keys import Keys
from fed.v1 import types_pb2
from proxy.cache import FedCache
from proxy.settings import FailoverSection
from proxy.view import ClusterEntry

_log = logging.getLogger(__name__)
Health = types_pb2.ClusterHealth
_SILENT_FLEET = "every cluster is silent: suspecting the federation itself, failing none"


@dataclass(frozen=True)
class Signal:
    """What the latest status says about a cluster right now."""

    ok: bool
    reason: str


@dataclass
class Tracker:
    """Per-cluster memory of the controller: the verdict and since when the signal held."""

    health: Health.ValueType = types_pb2.CLUSTER_HEALTH_UNKNOWN
    reason: str = ""
    since: float = 0.0  # wall clock of the last transition
    ok_since: float | None = None  # continuous health started (monotonic)
    trouble_since: float | None = None  # continuous trouble started (monotonic)
    last_ready: float = 0.0


def signal_of(entry: ClusterEntry, now: float, settings: FailoverSection) -> Signal:
    status = entry.status
    if status is None or not status.HasField("heartbeat"):
        return Signal(False, "no status published yet")
    age = now - status.heartbeat.ToMicroseconds() / 1e6
    if age > settings.suspect_after_s:
        return Signal(False, f"no heartbeat within {settings.suspect_after_s:.0f} s")
    if not status.reachable:
        return Signal(False, f"API unreachable: {status.last_error or 'no answer'}"[:200])
    return Signal(True, "")


def step(
    tracker: Tracker,
    signal: Signal,
    now_mono: float,
    now_wall: float,
    settings: FailoverSection,
    fleet_silent: bool,
) -> bool:
    """Advance one cluster's verdict; True when it (or its reason) changed."""
    if signal.ok:
        tracker.trouble_since = None
        tracker.ok_since = tracker.ok_since if tracker.ok_since is not None else now_mono
    else:
        tracker.ok_since = None
        tracker.trouble_since = (
            tracker.trouble_since if tracker.trouble_since is not None else now_mono
        )
    wanted, reason = _verdict(tracker, signal, now_mono, settings, fleet_silent)
    if wanted == tracker.health and reason == tracker.reason:
        return False
    if wanted != tracker.health:
        tracker.since = now_wall
    tracker.health, tracker.reason = wanted, reason
    if wanted == types_pb2.CLUSTER_HEALTH_READY:
        tracker.last_ready = now_wall
    return True


def _verdict(
    tracker: Tracker,
    signal: Signal,
    now: float,
    settings: FailoverSection,
    fleet_silent: bool,
) -> tuple[Health.ValueType, str]:
    current = tracker.health
    if signal.ok:
        first_time = current == types_pb2.CLUSTER_HEALTH_UNKNOWN
        stable = tracker.ok_since is not None and now - tracker.ok_since >= settings.stabilise_s
        if current == types_pb2.CLUSTER_HEALTH_READY or first_time or stable:
            return types_pb2.CLUSTER_HEALTH_READY, ""
        return current, f"recovering; Ready after {settings.stabilise_s:.0f} s of health"
    if current == types_pb2.CLUSTER_HEALTH_UNKNOWN:
        return current, signal.reason
    if current == types_pb2.CLUSTER_HEALTH_FAILED:
        return current, tracker.reason
    troubled_for = 0.0 if tracker.trouble_since is None else now - tracker.trouble_since
    if troubled_for >= settings.fail_after_s and not fleet_silent:
        return types_pb2.CLUSTER_HEALTH_FAILED, f"{signal.reason} for {settings.fail_after_s:.0f} s"
    if fleet_silent:
        return types_pb2.CLUSTER_HEALTH_SUSPECT, f"{signal.reason}; {_SILENT_FLEET}"
    return types_pb2.CLUSTER_HEALTH_SUSPECT, signal.reason


class HealthController:
    def __init__(
        self,
        leadership: Leadership,
        keys: Keys,
        cache: FedCache,
        settings: FailoverSection,
        on_failed: Callable[[str, float], Awaitable[None]],
    ) -> None:
        self._leadership = leadership
        self._keys = keys
        self._cache = cache
        self._settings = settings
        self._on_failed = on_failed
        self._trackers: dict[str, Tracker] = {}

    def adopt(self) -> None:
        """Start from the verdicts the previous leader recorded (no flapping on takeover)."""
        for name, entry in self._cache.view.clusters.items():
            if entry.health is not None:
                self._trackers[name] = Tracker(
                    health=entry.health.health,
                    reason=entry.health.reason,
                    since=entry.health.since.ToMicroseconds() / 1e6,
                    last_ready=entry.health.last_ready.ToMicroseconds() / 1e6,
                )

    async def run(self) -> None:
        self.adopt()
        while True:
            await self.evaluate()
            await asyncio.sleep(self._settings.health_period_s)

    async def evaluate(self) -> None:
        now_wall, now_mono = time.time(), time.monotonic()
        clusters = {n: e for n, e in self._cache.view.clusters.items() if e.spec is not None}
        signals = {n: signal_of(e, now_wall, self._settings) for n, e in clusters.items()}
        silent = len(signals) >= 2 and not any(s.ok for s in signals.values())
        ops, failed = [], []
        for name, signal in signals.items():
            tracker = self._trackers.setdefault(name, Tracker())
            before = tracker.health
            if step(tracker, signal, now_mono, now_wall, self._settings, silent):
                ops.append(Put(self._keys.cluster_health(name), _record(name, tracker)))
                if tracker.health != before:
                    _log_change(name, tracker)
                if tracker.health == types_pb2.CLUSTER_HEALTH_FAILED and before != tracker.health:
                    began = tracker.trouble_since
                    trouble = 0.0 if began is None else now_mono - began
                    failed.append((name, now_wall - trouble))
        if ops:
            await self._leadership.txn_chunked(ops)
        for name, trouble_began in failed:
            await self._on_failed(name, trouble_began)


def _log_change(name: str, tracker: Tracker) -> None:
    health = Health.Name(tracker.health)
    _log.warning(
        "cluster health changed",
        extra={"cluster": name, "health": health, "reason": tracker.reason},
    )


def _record(name: str, tracker: Tracker) -> bytes:
    record = types_pb2.ClusterHealthRecord(
        cluster=name, health=tracker.health, reason=tracker.reason
    )
    record.since.CopyFrom(_stamp(tracker.since))
    if tracker.last_ready:
        record.last_ready.CopyFrom(_stamp(tracker.last_ready))
    return record.SerializeToString()


def _stamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromMicroseconds(int(seconds * 1e6))
    return stamp
