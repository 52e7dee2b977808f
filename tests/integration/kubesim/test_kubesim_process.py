"""kubesim as a child process: serves, stops on SIGTERM, dies with its parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from integration.kubesim.kubesim_support import kube_for, wait_for

from tools.kubesim import SimConfig, SimProcess

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_subprocess_serves_and_stops_cleanly(tmp_path: Path) -> None:
    with SimProcess(SimConfig(clusters=3, nodes=2), tmp_path) as sim:
        assert [c["name"] for c in sim.clusters] == ["c1", "c2", "c3"]
        assert {c["region"] for c in sim.clusters} == {"r1", "r2", "r3"}
        kube = kube_for(Path(sim.clusters[1]["kubeconfig"]))
        nodes = kube.core.list_node().items
        assert [n.metadata.labels["topology.kubernetes.io/zone"] for n in nodes] == ["r2-a"] * 2
        assert nodes[0].status.allocatable["cpu"] == "32"
    assert sim.proc is not None and sim.proc.returncode == 0


def test_subprocess_dies_with_its_parent(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from tools.kubesim import SimConfig, SimProcess
        sim = SimProcess(SimConfig(clusters=1, nodes=1), Path({str(tmp_path)!r})).start()
        print(sim.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    parent.stdout.close()
    wait_for(lambda: not alive(child), timeout=10)
