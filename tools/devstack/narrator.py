"""How the demo talks: numbered steps with elapsed time, and fedctl commands shown as a
user would type them, run in-process against the demo's stack."""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field

import click

from tools.fedctl.__main__ import fedctl


@dataclass
class Narrator:
    servers: list[str] = field(default_factory=list)
    steps: int = 0
    started: float = field(default_factory=time.monotonic)
    _step: int = 0

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def step(self, text: str) -> None:
        self._step += 1
        click.secho(
            f"\n==> [{self._step}/{self.steps}] {text}  ({self.elapsed():.1f} s)", bold=True
        )

    def say(self, text: str) -> None:
        click.echo(f"    {text}")

    def fedctl(self, *args: str) -> int:
        """Run `fedctl ARGS` on the demo's proxies; returns its exit code."""
        click.secho(f"$ fedctl {shlex.join(args)}", fg="cyan")
        argv = ["--server", ",".join(self.servers), *args]
        try:
            fedctl.main(argv, prog_name="fedctl")
        except SystemExit as exit_:
            return exit_.code if isinstance(exit_.code, int) else 1
        return 0
