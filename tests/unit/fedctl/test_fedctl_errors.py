"""Every bad argument gives one line on stderr and exit code 1, before any server is needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tools.fedctl.__main__ import fedctl

PLACE = ["workload", "place", "w", "--replicas", "1", "--image", "i"]
KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\n"
NOT_A_DEPLOYMENT = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
NO_REQUESTS = """apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec: {template: {spec: {containers: [{name: c, image: i}]}}}
"""
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
  annotations: {ANNOTATIONS}
spec:
  template:
    spec:
      containers:
      - {name: c, image: i, resources: {requests: {cpu: 100m, memory: 64Mi}}}
"""
CASES: list[tuple[list[str], str]] = [
    (["bogus"], "No such command 'bogus'"),
    (["cluster", "describe"], "Missing argument 'NAME'"),
    ([*PLACE, "--cpu", "5x", "--memory", "1Gi"], "'--cpu': '5x' is not a Kubernetes quantity"),
    ([*PLACE, "--cpu", "1", "--memory", "12Q"], "'--memory': '12Q' is not a Kubernetes"),
    ([*PLACE, "--cpu", "0", "--memory", "1Gi"], "cpu '0' must be more than 0"),
    ([*PLACE, "--cpu", "1"], "Missing option '--memory'"),
    ([*PLACE, "--cpu", "1", "--memory", "1Gi", "--spread", "planet"], "'planet' is not one of"),
    (["workload", "scale", "w", "--replicas", "-1"], "-1 is not in the range x>=0"),
    (["cluster", "list", "-o", "xml"], "'xml' is not one of 'table', 'json', 'yaml'"),
    (["cluster", "register", "c9", "--kubeconfig", "/nonexistent"], "cannot read kubeconfig"),
    (["cluster", "register", "c9", "--kubeconfig", "{kc}", "--taint", "k=v"], "bad taint"),
    (["cluster", "register", "c9", "--kubeconfig", "{kc}", "--taint", "k:Never"], "bad taint"),
    (["cluster", "register", "c9", "--kubeconfig", "{kc}", "--label", "novalue"], "bad label"),
    (["workload", "apply", "-f", "/nonexistent"], "cannot read manifest /nonexistent"),
    (["workload", "apply", "-f", "{service}"], "kind must be Deployment"),
    (["workload", "apply", "-f", "{broken}"], "is not YAML"),
    (["workload", "apply", "-f", "{no_requests}"], "needs cpu and memory"),
    (["workload", "apply", "-f", "{bad_gang}"], "fed.io/gang must be true or false"),
    (["workload", "apply", "-f", "{typo}"], "unknown annotation fed.io/min-cluster "),
    (["workload", "explain"], "explain needs a workload NAME or -f FILE"),
    (["--server", "nohostport", "cluster", "list"], "bad server address 'nohostport'"),
    (["cluster", "list"], "no server: run `fedctl dev up`"),
    (["--request-timeout", "0", "topology"], "0.0 is not in the range x>=0.1"),
    (["dev", "status", "--dir", "{empty}"], "no stack in"),
    (["dev", "down", "--dir", "{empty}"], "no stack in"),
    (["dev", "up", "--node-memory", "lots", "--dir", "{empty}"], "'--node-memory': 'lots'"),
    (["dev", "up", "--clusters", "0"], "0 is not in the range x>=1"),
]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    contents = {
        "kc": KUBECONFIG,
        "service": NOT_A_DEPLOYMENT,
        "broken": "kind: [unclosed\n",
        "no_requests": NO_REQUESTS,
        "bad_gang": DEPLOYMENT.replace("{ANNOTATIONS}", "{fed.io/gang: maybe}"),
        "typo": DEPLOYMENT.replace("{ANNOTATIONS}", "{fed.io/min-cluster: '2'}"),
    }
    paths = {"empty": str(tmp_path / "empty")}
    for key, text in contents.items():
        path = tmp_path / f"{key}.yaml"
        path.write_text(text)
        paths[key] = str(path)
    return paths


@pytest.mark.parametrize(("args", "expected"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_arguments_give_one_line_and_exit_1(
    args: list[str], expected: str, files: dict[str, str], tmp_path: Path
) -> None:
    argv = [arg.format(**files) if arg.startswith("{") else arg for arg in args]
    env = {"FEDCTL_HOME": str(tmp_path / "home"), "FEDCTL_SERVER": None}
    result = CliRunner().invoke(fedctl, argv, env=env)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]


def test_a_corrupt_context_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "context.json").write_text("{not json")
    env = {"FEDCTL_HOME": str(tmp_path), "FEDCTL_SERVER": None}
    result = CliRunner().invoke(fedctl, ["topology"], env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: unreadable context file {tmp_path}/context.json")


def test_help_and_version_succeed() -> None:
    assert CliRunner().invoke(fedctl, ["--help"]).exit_code == 0
    result = CliRunner().invoke(fedctl, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("fedctl, version ")
