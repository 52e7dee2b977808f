"""The reservation ledger: totals, the no-over-commit check, rollback and copies."""

from __future__ import annotations

import pytest
from unit.scheduler.scheduler_fleet import GI, reservation

from proxy.ledger import Ledger, OverCommitError
from proxy.scheduler.resources import Quantity

ROOM = Quantity(4000, 4 * GI, 0, 10)


def test_totals_follow_reserve_and_release() -> None:
    ledger = Ledger()
    ledger.reserve(reservation("a", 2, rid="x"), ROOM)
    ledger.reserve(reservation("a", 1, rid="y"), ROOM)
    assert ledger.reserved("a") == Quantity(3000, 3 * GI, 0, 3)
    assert ledger.release("a", "x") is not None
    assert ledger.reserved("a") == Quantity(1000, GI, 0, 1)
    assert ledger.release("a", "missing") is None


def test_reserve_refuses_over_commit_and_names_the_dimension() -> None:
    ledger = Ledger([reservation("a", 3, rid="x")])
    with pytest.raises(OverCommitError) as error:
        ledger.reserve(reservation("a", 2, rid="y"), ROOM)
    assert error.value.dimensions == ["cpu_millis", "memory_bytes"]
    assert ledger.get("a", "y") is None
    assert ledger.reserved("a") == Quantity(3000, 3 * GI, 0, 3)


def test_resizing_counts_only_the_growth() -> None:
    ledger = Ledger([reservation("a", 3, rid="x")])
    ledger.reserve(reservation("a", 4, rid="x"), ROOM)
    assert ledger.reserved("a").cpu_millis == 4000


def test_shrinking_is_allowed_even_when_already_over() -> None:
    ledger = Ledger([reservation("a", 8, rid="x")])
    ledger.reserve(reservation("a", 6, rid="x"), ROOM)
    assert ledger.reserved("a").cpu_millis == 6000


def test_rollback_restores_the_checkpoint() -> None:
    ledger = Ledger([reservation("a", 1, rid="x")])
    mark = ledger.checkpoint()
    ledger.reserve(reservation("a", 2, rid="y"), ROOM)
    ledger.release("a", "x")
    ledger.reserve(reservation("b", 1, rid="z"), ROOM)
    ledger.rollback(mark)
    assert sorted(item.id for item in ledger) == ["x"]
    assert ledger.reserved("a") == Quantity(1000, GI, 0, 1)
    assert ledger.reserved("b") == Quantity()


def test_generation_changes_on_every_change_including_rollback() -> None:
    ledger = Ledger()
    start = ledger.generation("a")
    mark = ledger.checkpoint()
    ledger.reserve(reservation("a", 1, rid="x"), ROOM)
    reserved = ledger.generation("a")
    ledger.rollback(mark)
    assert len({start, reserved, ledger.generation("a")}) == 3


def test_copy_is_independent() -> None:
    ledger = Ledger([reservation("a", 1, rid="x")])
    clone = ledger.copy()
    clone.reserve(reservation("a", 1, rid="y"), ROOM)
    assert [item.id for item in ledger] == ["x"]
    assert sorted(item.id for item in clone) == ["x", "y"]


def test_zero_pods_in_the_shape_counts_one_pod_slot() -> None:
    item = reservation("a", 3, rid="x")
    item.per_replica.pods = 0
    assert Ledger([item]).reserved("a").pods == 3


def test_len_counts_active_reservations_over_every_cluster() -> None:
    ledger = Ledger([reservation("a", 1, rid="r1"), reservation("b", 2, rid="r2")])
    assert len(ledger) == 2
    ledger.release("a", "r1")
    assert len(ledger) == 1
