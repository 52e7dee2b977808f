"""The fresh-placement shortcut decides exactly what the general division decides."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from unit.scheduler.scheduler_fleet import GI, Fake, fleet, request

from proxy.ledger import Ledger
from proxy.scheduler.cycle import first_ranked, tiebreak
from proxy.scheduler.divide import Rules, apportion, divide, single_replica_shares
from proxy.scheduler.engine import Engine
from proxy.scheduler.model import PlacementRequest, Snapshot
from proxy.scheduler.top_n import largest_positions, nth_largest

ENGINE = Engine()
PROFILE = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def twin_fleets(draw: st.DrawFn) -> Snapshot:
    """A few cluster shapes, each repeated under several names: equal scores tie often."""
    fakes: list[Fake] = []
    for shape in range(draw(st.integers(1, 3))):
        nodes = draw(st.integers(1, 4))
        node_cpu = draw(st.integers(1, 16)) * 500
        region = draw(st.sampled_from(("eu", "us")))
        for copy in range(draw(st.integers(1, 6))):
            fakes.append(
                Fake(name=f"s{shape}-{copy}", region=region, nodes=nodes, node_cpu=node_cpu)
            )
    return fleet(*fakes)


@st.composite
def fresh_requests(draw: st.DrawFn) -> list[PlacementRequest]:
    return [
        request(
            replicas=draw(st.integers(1, 8)),
            cpu=draw(st.sampled_from((250, 500, 1000))),
            memory=GI // 4,
            workload=f"team/app{index}",
        )
        for index in range(draw(st.integers(1, 12)))
    ]


def general_division(snapshot: Snapshot, ledger: Ledger, item: PlacementRequest) -> dict[str, int]:
    """What divide decides over every candidate, ranked (the path the shortcut skips)."""
    cycle = ENGINE.cycle(snapshot, ledger)
    candidates, _ = cycle.candidates(item, cycle.equivalence_class(item))
    division = divide(candidates, {}, lambda cluster: cluster, item.replicas, Rules())
    return dict(division.totals) if not division.unplaced else {}


@PROFILE
@given(twin_fleets(), fresh_requests())
def test_fresh_requests_in_turn_are_divided_as_the_general_division_would(
    snapshot: Snapshot, stream: list[PlacementRequest]
) -> None:
    ledger = Ledger()
    for item in stream:
        expected = general_division(snapshot, ledger, item)
        cycle = ENGINE.cycle(snapshot, ledger)
        decision = cycle.decide(item)
        assert (decision.replicas() if decision.ok else {}) == expected
        cycle.reserve(item, decision)


@PROFILE
@given(
    st.lists(st.tuples(st.sampled_from((0.0, 0.5, 0.7, 1.0)), st.integers(1, 4)), max_size=40),
    st.integers(1, 6),
)
def test_single_replica_shares_are_apportion_when_every_share_is_below_one(
    open_: list[tuple[float, int]], need: int
) -> None:
    scores = [score for score, _ in open_]
    available = [count for _, count in open_]
    shares = single_replica_shares(scores, available, need)
    best = max(scores, default=0.0)
    items = [
        (str(index), count * (score / best if best > 0 else 1.0), count)
        for index, (score, count) in enumerate(open_)
    ]
    given_ = {int(key) for key, count in apportion(need, items).items() if count > 0}
    if shares is None:
        return
    sure, tied, wanted = shares
    assert set(sure) | set(tied[:wanted]) == given_
    assert all(count == 1 for count in apportion(need, items).values() if count)


def test_a_few_replicas_over_many_equal_clusters_take_the_shortcut() -> None:
    """The placement benchmark's case: 2 replicas over 20 alike clusters."""
    shares = single_replica_shares([1.0] * 20, [300] * 20, 2)
    assert shares == ([], list(range(20)), 2)


def test_a_share_of_a_whole_replica_leaves_it_to_the_general_division() -> None:
    assert single_replica_shares([1.0, 1.0, 1.0], [10, 10, 10], 3) is None
    assert single_replica_shares([1.0, 0.0, 0.0], [10, 10, 10], 1) is None


@given(st.lists(st.integers(0, 5).map(float), min_size=1, max_size=60), st.data())
def test_largest_positions_are_a_stable_sorts_first(
    values: list[float], data: st.DataObject
) -> None:
    n = data.draw(st.integers(1, len(values)))
    stable = sorted(range(len(values)), key=lambda index: -values[index])[:n]
    assert sorted(largest_positions(values, n)) == sorted(stable)
    assert nth_largest(values, n) == sorted(values, reverse=True)[n - 1]


@given(st.lists(st.sampled_from((0.5, 1.0, 2.0)), min_size=1, max_size=30), st.data())
def test_first_ranked_takes_the_best_score_then_the_tie_break_hash(
    scores: list[float], data: st.DataObject
) -> None:
    views = fleet(*(Fake(name=f"c{index}") for index in range(len(scores)))).clusters
    positions = data.draw(st.lists(st.sampled_from(range(len(scores))), min_size=1, unique=True))
    positions.sort()
    wanted = data.draw(st.integers(1, len(positions)))
    workload = data.draw(st.sampled_from(("team/a", "team/b", "other/c")))
    ranked = sorted(
        positions,
        key=lambda index: (-scores[index], tiebreak(workload, views[index].name), index),
    )
    chosen = first_ranked(positions, wanted, scores, list(views), workload)
    assert sorted(chosen) == sorted(ranked[:wanted])
