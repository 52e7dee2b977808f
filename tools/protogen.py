"""Generate the fed.v1 Python code from proto/ into the `fed` package, or check it is fresh.

The generated code is committed so that a fresh clone imports it without a build step;
`make test` runs `--check`, which fails when a .proto changed without regenerating.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
PACKAGE = "fed"


def generate(out_dir: Path) -> None:
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    well_known = str(resources.files("grpc_tools") / "_proto")
    bin_dir = Path(sys.executable).parent
    args = [
        "protoc",
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        f"-I{PROTO_DIR}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for package_dir in [
        out_dir / PACKAGE,
        *(d for d in (out_dir / PACKAGE).rglob("*") if d.is_dir()),
    ]:
        (package_dir / "__init__.py").write_text('"""Generated from proto/ by tools.protogen."""\n')
        (package_dir / "py.typed").touch()


def _differences(expected: Path, actual: Path) -> list[str]:
    found: list[str] = []
    comparison = filecmp.dircmp(expected, actual, ignore=["__pycache__"])
    stack = [comparison]
    while stack:
        current = stack.pop()
        found += [f"missing: {current.right}/{n}" for n in current.left_only]
        found += [f"extra: {current.right}/{n}" for n in current.right_only]
        found += [f"stale: {current.right}/{n}" for n in current.diff_files]
        stack.extend(current.subdirs.values())
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed code is stale")
    check = parser.parse_args().check
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        if check:
            problems = _differences(Path(tmp) / PACKAGE, ROOT / PACKAGE)
            if problems:
                print("generated code is stale, run `make proto`:", *problems, sep="\n  ")
                sys.exit(1)
            print("generated code is fresh")
            return
        shutil.rmtree(ROOT / PACKAGE, ignore_errors=True)
        shutil.copytree(Path(tmp) / PACKAGE, ROOT / PACKAGE)
        print(f"generated {PACKAGE}/ from {PROTO_DIR.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
