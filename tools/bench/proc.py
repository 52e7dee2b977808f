"""What a benchmark reads about its processes from /proc: CPU time and resident memory."""

from __future__ import annotations

import os
from pathlib import Path

from common.loop_lag import parse_schedstat


def cpu_seconds(pid: int) -> float:
    """User + system CPU time consumed so far by `pid` (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main_thread_schedule(pid: int) -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for a CPU) so far, of the main thread of
    `pid` alone: for a Python server, its event loop (gRPC's own threads are left out)."""
    return parse_schedstat(Path(f"/proc/{pid}/task/{pid}/schedstat").read_bytes())


def rss_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of `pid` in MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
