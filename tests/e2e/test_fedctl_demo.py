"""`make demo` as CI runs it: a small fleet, the whole story, nothing left running."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools.devstack.stack import alive

pytestmark = pytest.mark.integration


def test_the_demo_tells_its_story_on_a_small_fleet(tmp_path: Path) -> None:
    env = {**os.environ, "DEMO_CLUSTERS": "3", "DEMO_NODES": "4", "DEMO_WORKERS": "2"}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "tools.devstack.demo", "--proxies", "2", "--dir", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=170, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert time.monotonic() - started < 120
    out = done.stdout
    assert "3 clusters x 4 nodes" in out
    assert re.search(r"ml\s+train\s+8\s+8\s+8\s+32Gi\s+Ready", out)
    assert re.search(r"runs a new shop/api Deployment of \d+ replicas after \d+\.\d s", out)
    assert re.search(r"proxy-\d leads after \d+\.\d s", out)
    assert "no placement lost: 3 workloads, 29 replicas, as before" in out
    assert "still running: none" in out
    pids = [int(pid) for pid in re.findall(r"\(pid (\d+)\)", out)]
    assert pids and not [pid for pid in pids if alive(pid)]
