"""Child processes that report events as JSON lines on stdout, read with deadlines."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from typing import IO, Any

from common.etcd_launcher import die_with_parent


class JsonLinesChild:
    """A `python -m <module>` child that dies with us and speaks JSON lines."""

    def __init__(self, name: str, module: str, args: list[str]) -> None:
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 (no threads hold locks at this point)
        )
        os.set_blocking(self._stdout.fileno(), False)
        self._buffer = ""
        self._pending: list[tuple[dict[str, Any], float]] = []

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def _stdout(self) -> IO[str]:
        if self.process.stdout is None:
            raise RuntimeError("child has no stdout")
        return self.process.stdout

    def send(self, command: str) -> None:
        if self.process.stdin is None:
            raise RuntimeError("child has no stdin")
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def expect(self, event: str, timeout_s: float) -> tuple[dict[str, Any], float]:
        """The oldest unclaimed line reporting `event` and when (time.monotonic()) it was read.

        Lines of other events stay queued for later `expect` calls.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            for index, (message, read_at) in enumerate(self._pending):
                if message.get("event") == event:
                    del self._pending[index]
                    return message, read_at
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.name}: no {event!r} within {timeout_s} s")
            self._read(remaining)

    def _read(self, timeout_s: float) -> None:
        ready, _, _ = select.select([self._stdout], [], [], timeout_s)
        if not ready:
            return
        chunk = self._stdout.read() or ""
        if not chunk and self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}")
        read_at = time.monotonic()
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split("\n")
        self._pending.extend((json.loads(line), read_at) for line in lines if line.strip())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def first_event(
    children: list[JsonLinesChild], event: str, timeout_s: float
) -> tuple[JsonLinesChild, dict[str, Any], float]:
    """Whichever child reports `event` first: (child, message, time read)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for child in children:
            try:
                message, read_at = child.expect(event, timeout_s=0.02)
            except TimeoutError:
                continue
            return child, message, read_at
    raise TimeoutError(f"none of {[c.name for c in children]} reported {event!r}")
