"""Run a fleet in a child process that dies with its parent (for tests and benchmarks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tools.kubesim.config import SimConfig


def cli_args(config: SimConfig, out: Path) -> list[str]:
    return [
        "--clusters", str(config.clusters),
        "--nodes", str(config.nodes),
        "--node-cpu", config.node_cpu,
        "--node-memory", config.node_memory,
        "--node-pods", str(config.node_pods),
        "--regions", ",".join(config.regions),
        "--zones-per-region", str(config.zones_per_region),
        "--kubelet-delay", str(config.kubelet_delay),
        "--termination-delay", str(config.termination_delay),
        "--bookmark-interval", str(config.bookmark_interval),
        "--history-size", str(config.history_size),
        "--seed", str(config.seed),
        "--out", str(out),
    ]  # fmt: skip


class SimProcess:
    """`with SimProcess(SimConfig(...), tmp_path) as sim: sim.clusters[0]["url"]`.

    The child gets PR_SET_PDEATHSIG, so it is terminated when the thread that started it
    exits, even if this process is killed without cleaning up.
    """

    def __init__(self, config: SimConfig, out: Path, log_level: str = "WARNING") -> None:
        self.config = config
        self.out = out
        self.log_level = log_level
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    def start(self, timeout: float = 600.0) -> SimProcess:
        cmd = [
            sys.executable,
            "-m",
            "tools.kubesim",
            *cli_args(self.config, self.out),
            "--die-with-parent",
            str(os.getpid()),
            "--log-level",
            self.log_level,
        ]
        root = Path(__file__).resolve().parents[2]
        self.proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError(f"kubesim exited before it was ready (code {self.proc.returncode})")
        ready = json.loads(line)
        self.info = json.loads(Path(ready["clusters_json"]).read_text())
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def clusters(self) -> list[dict[str, Any]]:
        clusters: list[dict[str, Any]] = self.info.get("clusters", [])
        return clusters

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait, then SIGKILL if needed; returns the exit code."""
        proc = self.proc
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode

    def __enter__(self) -> SimProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
