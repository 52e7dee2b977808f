"""Compile the leader's hot path with mypyc: the same typed sources, built as C extensions.

The placement engine, the ledger and the writer run once per request on one core; compiled,
they cost about half the CPU (see tools/bench/placement.py). The sources stay the truth:
each extension sits beside its module and Python imports it first, and without them the
project runs the same code interpreted. A build records a digest of the sources it compiled;
`check` (run by the test session and every benchmark) refuses extensions built from other
sources, so an edit is never tested or measured against stale machine code.

    python -m tools.native build   # compile (a no-op when the digest matches)
    python -m tools.native check   # exit 1 when extensions exist but are stale
    python -m tools.native clean   # remove them: run everything interpreted
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GROUP = "proxy._native"
"""One shared library for every module, so calls between them are native calls."""
STAMP = ROOT / "build" / "native.sha256"

MODULES = (
    "common/etcd_types.py",
    "common/keys.py",
    "proxy/fleet.py",
    "proxy/health.py",
    "proxy/known_records.py",
    "proxy/ledger.py",
    "proxy/migration.py",
    "proxy/view.py",
    "proxy/workload_order.py",
    "proxy/write_round.py",
    "proxy/scheduler/assemble.py",
    "proxy/scheduler/capacity.py",
    "proxy/scheduler/class_memo.py",
    "proxy/scheduler/cycle.py",
    "proxy/scheduler/decision.py",
    "proxy/scheduler/diagnosis.py",
    "proxy/scheduler/divide.py",
    "proxy/scheduler/engine.py",
    "proxy/scheduler/equivalence.py",
    "proxy/scheduler/explain.py",
    "proxy/scheduler/framework.py",
    "proxy/scheduler/last_scores.py",
    "proxy/scheduler/model.py",
    "proxy/scheduler/policy.py",
    "proxy/scheduler/request_policy.py",
    "proxy/scheduler/reservations.py",
    "proxy/scheduler/resources.py",
    "proxy/scheduler/runner.py",
    "proxy/scheduler/selection.py",
    "proxy/scheduler/status.py",
    "proxy/scheduler/top_n.py",
    "proxy/scheduler/utilisation.py",
    "proxy/scheduler/validation.py",
    "proxy/scheduler/plugins/balanced.py",
    "proxy/scheduler/plugins/cluster_selector.py",
    "proxy/scheduler/plugins/cluster_state.py",
    "proxy/scheduler/plugins/fit.py",
    "proxy/scheduler/plugins/fragmentation.py",
    "proxy/scheduler/plugins/free_capacity.py",
    "proxy/scheduler/plugins/health.py",
    "proxy/scheduler/plugins/hotspot.py",
    "proxy/scheduler/plugins/locality.py",
    "proxy/scheduler/plugins/steadiness.py",
    "proxy/scheduler/plugins/taint_toleration.py",
    "proxy/scheduler/plugins/topology_affinity.py",
)
"""Synchronous modules on the per-request path. Left out on purpose: modules with coroutines
(compiled, an exception raised inside `async with` crashed the process), package __init__
files, modules with generic dataclasses (mypyc cannot compile those yet), proxy.errors
(other modules subclass its ApiError) and everything that only runs now and then."""


def digest() -> str:
    """Of the compiled sources, the module list and the compiler's version."""
    from mypy.version import __version__ as mypy_version

    hashed = hashlib.sha256(f"{mypy_version}\0{sys.version}\0".encode())
    for module in MODULES:
        hashed.update(module.encode() + b"\0" + (ROOT / module).read_bytes() + b"\0")
    return hashed.hexdigest()


def extensions() -> list[Path]:
    """Every compiled extension under the project's packages."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    found: list[Path] = []
    for package in ("common", "proxy"):
        found += [path for path in (ROOT / package).rglob("*") if path.name.endswith(suffixes)]
    return sorted(found)


def stale() -> str | None:
    """Why the extensions in the tree do not match the sources (None: they match, or there
    are none and everything runs interpreted)."""
    if not extensions():
        return None
    if not STAMP.exists():
        return "compiled extensions without a build record"
    if STAMP.read_text().strip() != digest():
        return "compiled extensions built from other sources"
    return None


def require_fresh() -> None:
    """Exit with one line when the extensions are stale (a benchmark or test of them would
    measure other code than the sources)."""
    reason = stale()
    if reason is not None:
        sys.exit(f"native: {reason}; run `make native` (or `make native-clean`)")


def clean() -> None:
    for path in extensions():
        path.unlink()
    STAMP.unlink(missing_ok=True)


def build() -> None:
    if extensions() and stale() is None:
        return
    clean()
    from mypyc.build import mypycify
    from setuptools import setup

    build_dir = ROOT / "build" / "native"
    shutil.rmtree(build_dir, ignore_errors=True)
    setup(
        name="fedproxy-native",
        ext_modules=mypycify(list(MODULES), group_name=GROUP, target_dir=str(build_dir)),
        script_args=["-q", "build_ext", "--inplace", "--build-temp", str(build_dir / "temp")],
    )
    STAMP.parent.mkdir(exist_ok=True)
    STAMP.write_text(digest() + "\n")


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "build":
        build()
    elif command == "clean":
        clean()
    elif command == "check":
        require_fresh()
    else:
        print("usage: python -m tools.native build|check|clean", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
