"""Leader election and fencing, in process and across real processes killed or stopped."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from common.election import Election, NotLeader
from common.etcd_launcher import EmbeddedEtcd
from common.etcd_store import EtcdStore, FencedOut, Put
from common.keys import Keys
from common.settings import ElectionSettings
from tools.devstack.child import JsonLinesChild, first_event

pytestmark = pytest.mark.integration

TTL_S = 3
SETTINGS = ElectionSettings(ttl_s=TTL_S, safety_margin_s=1.0)


async def test_write_fenced_with_an_old_epoch_is_rejected_after_leadership_moved(
    store: EtcdStore, keys: Keys
) -> None:
    first = await Election(store, keys, SETTINGS, value=b"a").campaign()
    second_campaign = asyncio.create_task(Election(store, keys, SETTINGS, value=b"b").campaign())
    await first.txn([Put(keys.workload("ns", "w"), b"by a")])
    await first.resign()
    second = await asyncio.wait_for(second_campaign, timeout=TTL_S)
    assert second.epoch > first.epoch

    with pytest.raises(FencedOut):
        await store.fenced_txn(first.fence, [Put(keys.workload("ns", "w"), b"stale a")])
    with pytest.raises(NotLeader):
        await first.txn([Put(keys.workload("ns", "w"), b"stale a")])
    await second.txn([Put(keys.workload("ns", "w"), b"by b")])
    assert (await store.get(keys.workload("ns", "w"))).value == b"by b"  # type: ignore[union-attr]
    await second.resign()


async def test_a_fenced_out_leader_steps_down(store: EtcdStore, keys: Keys) -> None:
    leadership = await Election(store, keys, SETTINGS, value=b"a").campaign()
    await store.delete(leadership.key)
    with pytest.raises(NotLeader):
        await leadership.txn([Put(keys.workload("ns", "w"), b"x")])
    assert not leadership.is_leader
    assert "fenced write rejected" in await leadership.wait_lost()
    await leadership.resign()


async def test_observe_follows_the_leader(store: EtcdStore, keys: Keys) -> None:
    election = Election(store, keys, SETTINGS, value=b"observer")
    observed = election.observe()
    assert await anext(observed) is None
    leadership = await Election(store, keys, SETTINGS, value=b"a").campaign()
    seen = await asyncio.wait_for(anext(observed), timeout=TTL_S)
    assert seen is not None
    assert (seen.value, seen.epoch) == (b"a", leadership.epoch)
    await leadership.resign()
    assert await asyncio.wait_for(anext(observed), timeout=TTL_S) is None
    await observed.aclose()


class CandidateProcess(JsonLinesChild):
    def __init__(self, endpoint: str, prefix: str, name: str) -> None:
        args = ["--etcd", endpoint, "--prefix", prefix, "--name", name, "--ttl", str(TTL_S)]
        super().__init__(name, "tools.devstack.candidate", args)


@pytest.fixture
def candidates(etcd: EmbeddedEtcd, keys: Keys) -> Iterator[list[CandidateProcess]]:
    started = [CandidateProcess(etcd.endpoint, keys.prefix, name) for name in ("a", "b")]
    yield started
    for candidate in started:
        candidate.stop()


def _leader_and_follower(
    candidates: list[CandidateProcess],
) -> tuple[CandidateProcess, CandidateProcess, dict[str, Any]]:
    leader, elected, _ = first_event(candidates, "leader", timeout_s=10)
    (follower,) = [c for c in candidates if c is not leader]
    follower.expect("campaigning", timeout_s=10)
    return leader, follower, elected


def test_sigkill_of_the_leader_elects_the_other_within_ttl_plus_one_second(
    candidates: list[CandidateProcess],
) -> None:
    a, b, elected = _leader_and_follower(candidates)
    killed_at = time.monotonic()
    a.process.send_signal(signal.SIGKILL)
    took_over, seen_at = b.expect("leader", timeout_s=TTL_S + 5)
    takeover_s = seen_at - killed_at
    print(f"\ntakeover after SIGKILL of the leader: {takeover_s:.2f} s (TTL {TTL_S} s)")
    assert took_over["epoch"] > elected["epoch"]
    assert takeover_s <= TTL_S + 1


def test_a_leader_stopped_past_its_ttl_is_fenced_and_steps_down(
    candidates: list[CandidateProcess],
) -> None:
    a, b, elected = _leader_and_follower(candidates)
    a.process.send_signal(signal.SIGSTOP)
    took_over, _ = b.expect("leader", timeout_s=TTL_S + 5)
    assert took_over["epoch"] > elected["epoch"]
    a.process.send_signal(signal.SIGCONT)
    a.send("write")
    write, _ = a.expect("write", timeout_s=5)
    assert (write["result"], write["epoch"]) == ("rejected", elected["epoch"])
    a.send("state")
    state, _ = a.expect("state", timeout_s=5)
    assert state["leader"] is False
    b.send("write")
    accepted, _ = b.expect("write", timeout_s=5)
    assert accepted["result"] == "ok"
