"""`workload apply -f`: a Deployment with fed.io/ annotations becomes a WorkloadSpec."""

from __future__ import annotations

import json

import pytest
import yaml

from tools.fedctl import manifest
from tools.fedctl.errors import CliError

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: team-a
  labels: {app: api}
  annotations:
    fed.io/min-clusters: "2"
    fed.io/spread: region
    fed.io/max-skew: "1"
    fed.io/gang: "true"
    fed.io/policy: latency
    fed.io/regions: r1, r2
    fed.io/priority: "7"
spec:
  replicas: 5
  template:
    spec:
      containers:
      - name: api
        image: api:1
        resources: {requests: {cpu: 250m, memory: 1Gi}}
      - name: sidecar
        image: proxy:1
        resources: {requests: {cpu: "4", memory: 4Gi}}
"""


def test_annotations_and_first_container_requests() -> None:
    spec = manifest.to_spec(manifest.load(DEPLOYMENT, "api.yaml"), None, "api.yaml")
    assert (spec.namespace, spec.name, spec.replicas, spec.priority) == ("team-a", "api", 5, 7)
    assert (spec.resources.cpu_millis, spec.resources.memory_bytes) == (250, 1 << 30)
    policy = spec.policy
    assert (policy.name, policy.min_clusters, policy.gang) == ("latency", 2, True)
    assert (policy.spread.topology, policy.spread.max_skew) == ("region", 1)
    assert list(policy.regions) == ["r1", "r2"]
    assert dict(spec.labels) == {"app": "api"}
    template = json.loads(spec.template_json)
    assert "replicas" not in template["spec"]
    assert template["spec"]["template"]["spec"]["containers"][1]["name"] == "sidecar"


def test_namespace_flag_wins_and_defaults() -> None:
    document = yaml.safe_load(DEPLOYMENT)
    assert manifest.to_spec(document, "other", "f").namespace == "other"
    del document["metadata"]["namespace"]
    del document["spec"]["replicas"]
    spec = manifest.to_spec(document, None, "f")
    assert (spec.namespace, spec.replicas) == ("default", 1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(apiVersion="apps/v1beta1"), "apiVersion must be apps/v1"),
        (lambda d: d["metadata"].pop("name"), "metadata.name is required"),
        (lambda d: d["spec"].update(replicas=-2), "spec.replicas must be a whole number"),
        (lambda d: d["metadata"]["annotations"].update({"fed.io/spread": "planet"}), "bad spread"),
        (lambda d: d["metadata"]["annotations"].update({"fed.io/max-skew": "x"}), "max-skew"),
        (lambda d: d["spec"]["template"]["spec"].update(containers=[]), "needs cpu and memory"),
    ],
)
def test_bad_manifests(change: object, message: str) -> None:
    document = yaml.safe_load(DEPLOYMENT)
    change(document)  # type: ignore[operator]
    with pytest.raises(CliError, match=message):
        manifest.to_spec(manifest.load(yaml.safe_dump(document), "f"), None, "f")


def test_more_than_one_document_is_refused() -> None:
    with pytest.raises(CliError, match="exactly one Deployment, found 2"):
        manifest.load(DEPLOYMENT + "---\n" + DEPLOYMENT, "f")
