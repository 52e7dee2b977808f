"""Running fedctl as a user does (a subprocess) in tests, and polling other processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class Fedctl:
    """Runs `python -m tools.fedctl` with its own FEDCTL_HOME and no FEDCTL_SERVER."""

    home: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "FEDCTL_SERVER"}
        return {**env, "FEDCTL_HOME": str(self.home), **extra}

    def run(self, *args: str, ok: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "tools.fedctl", *args],
            capture_output=True, text=True, env=self.env(**env), timeout=90, check=False,
        )  # fmt: skip
        if ok:
            assert done.returncode == 0, f"fedctl {' '.join(args)}: {done.stderr}"
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def fails(self, *args: str, **env: str) -> str:
        """The one stderr line of a failing command."""
        done = self.run(*args, ok=False, **env)
        assert done.returncode == 1, done
        lines = done.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
        assert "Traceback" not in done.stderr
        return lines[0]

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "tools.fedctl", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env(),
        )  # fmt: skip


def eventually(check: Callable[[], T], what: str, timeout_s: float = 30) -> T:
    """Bounded polling of a condition held by other processes."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)
