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

    def fedctl(self, *args: str) -> None:
        """Run `fedctl ARGS` on the demo's proxies; a failure ends the demo."""
        click.secho(f"$ fedctl {shlex.join(args)}", fg="cyan")
        try:
            fedctl.main(["--server", ",".join(self.servers), *args], prog_name="fedctl")
        except SystemExit as exit_:
            if exit_.code:
                raise click.ClickException(f"`fedctl {shlex.join(args)}` failed") from None
