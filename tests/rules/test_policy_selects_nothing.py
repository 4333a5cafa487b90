"""policy-selects-nothing, against inline cases and kubescape's dangling-networkpolicy tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netpol_fix.config import Settings
from netpol_fix.inventory.load import load_inventory
from netpol_fix.model.findings import WARNING
from netpol_fix.rules.context import Context
from netpol_fix.rules.policy_selects_nothing import PolicySelectsNothing
from tests.corpus_path import corpus_dirs
from tests.rules.helpers import run, scan_json

RULE = PolicySelectsNothing()
KUBESCAPE = Path("kubescape-regolibrary/rules/dangling-networkpolicy/test")

DANGLING = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web, tier: front}}
    spec: {containers: [{name: c}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: isolate-nginx, namespace: shop}
spec:
  podSelector: {matchLabels: {app: nginx}}
  policyTypes: [Ingress]
"""


def test_policy_matching_no_workload_of_its_namespace() -> None:
    [finding] = run(RULE, DANGLING)
    assert finding.severity == WARNING and finding.fix is None
    assert finding.object.name == "isolate-nginx"
    assert "Deployment/web {app=web, tier=front}" in finding.message
    assert finding.affected == []


def test_matching_policy_is_not_reported() -> None:
    assert run(RULE, DANGLING.replace("{app: nginx}", "{tier: front}")) == []
    assert run(RULE, DANGLING.replace("podSelector: {matchLabels: {app: nginx}}",
                                      "podSelector: {}")) == []


def test_namespace_without_workloads_in_the_sources_is_not_judged() -> None:
    assert run(RULE, DANGLING.replace("namespace: shop}\nspec:\n  template",
                                      "namespace: other}\nspec:\n  template")) == []


def test_host_network_workload_counts_as_selected() -> None:
    """Selecting only hostNetwork pods is host-network-pod's finding, not this one."""
    text = DANGLING.replace("{app: nginx}", "{app: web}").replace(
        "spec: {containers: [{name: c}]}", "spec: {hostNetwork: true, containers: [{name: c}]}")
    assert run(RULE, text) == []


def test_suppressed_by_annotation() -> None:
    text = DANGLING.replace("metadata: {name: isolate-nginx, namespace: shop}",
                            "metadata: {name: isolate-nginx, namespace: shop, annotations: "
                            "{netpol-fix.io/ignore: policy-selects-nothing}}")
    assert run(RULE, text) == []


@pytest.mark.parametrize("case", [p.name for p in corpus_dirs(KUBESCAPE)])
def test_kubescape_dangling_networkpolicy(corpus: Path, case: str) -> None:
    """Agree with kubescape wherever the sources hold workloads of the policy's namespace;
    where they hold none there (two of its failing cases), the spec says not to judge."""
    folder = corpus / KUBESCAPE / case
    inventory = load_inventory([str(folder / "input")])
    findings = list(RULE.check(Context(inventory, Settings())))
    expected = json.loads((folder / "expected.json").read_text())
    names = {obj["metadata"]["name"] for f in expected for obj in f["alertObject"]["k8sApiObjects"]}
    judged = {p.name for p in inventory.policies
              if any(w.namespace == p.namespace for w in inventory.workloads)}
    assert {f.object.name for f in findings} == names & judged
    if case == "failed_dangling_matchexpressions":
        assert names == {"exp-dangling-policy"} and len(findings) == 1
    if case in ("failed_dangling_matchlabels", "failed_wrong_namespace"):
        assert names and not judged and findings == []


def test_cli(tmp_path: Path) -> None:
    result, out = scan_json(tmp_path, DANGLING, "--select", "policy-selects-nothing")
    assert result.exit_code == 1
    assert [f["rule"] for f in out["findings"]] == ["policy-selects-nothing"]
    assert out["findings"][0]["fix"] is None
