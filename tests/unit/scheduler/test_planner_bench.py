"""The planner benchmark plans real rounds: every request placed, the ledger grown."""

from __future__ import annotations

from tools.bench.planner import measure


async def test_the_planner_benchmark_places_every_request_it_times() -> None:
    figures = await measure(clusters=3, batch=4, rounds=10)
    assert figures["placements"] == 40  # the first round of eleven warms up, untimed
    assert figures["us_per_placement"] > 0
