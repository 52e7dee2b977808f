"""The kubesim benchmark runs end to end in quick mode and ends with one JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def test_quick_benchmark_reports_json_last() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tools.bench.kubesim", "--quick", "--pods", "200"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["creates_per_s"] > 0
    assert figures["gets_per_s"] > 0
    assert figures["rss_within_goal"] is True
    fleet = figures["fleet_2x500"]
    assert fleet["pods"] == 1000
    assert fleet["peak_rss_with_pods_mib"] >= fleet["rss_mib"] > 0
