"""cni-no-enforcement: one finding when the CNI ignores every policy."""

from __future__ import annotations

from pathlib import Path

from netpol_fix.config import Settings
from netpol_fix.inventory.load import load_inventory
from netpol_fix.model.findings import ERROR
from netpol_fix.rules.cni_no_enforcement import CniNoEnforcement
from netpol_fix.rules.context import Context
from tests.rules.helpers import run, scan_json

RULE = CniNoEnforcement()

TEXT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress: [{}]
"""


def test_flannel_gives_one_finding_for_all_policies() -> None:
    [finding] = run(RULE, TEXT, cni="flannel")
    assert finding.severity == ERROR and finding.fix is None
    assert finding.object.name == "deny-all"
    assert "none of the 2 NetworkPolicy" in finding.message
    assert finding.affected == ["shop/Deployment/web"]


def test_other_or_unknown_cnis_report_nothing() -> None:
    for cni in ("auto", "unknown", "calico", "cilium"):
        assert run(RULE, TEXT, cni=cni) == []


def test_no_policies_no_finding() -> None:
    assert run(RULE, TEXT.split("---")[0], cni="flannel") == []


def test_suppressed_policy_is_not_counted_nor_named() -> None:
    text = TEXT.replace("metadata: {name: deny-all, namespace: shop}",
                        "metadata: {name: deny-all, namespace: shop, annotations: "
                        "{netpol-fix.io/ignore: cni-no-enforcement}}")
    [finding] = run(RULE, text, cni="flannel")
    assert finding.object.name == "web" and "none of the 1 " in finding.message


def test_corpus_online_boutique(corpus: Path) -> None:
    inventory = load_inventory([str(corpus / "online-boutique")])
    findings = list(RULE.check(Context(inventory, Settings(cni="flannel"))))
    assert len(findings) == 1
    assert f"none of the {len(inventory.policies)} " in findings[0].message
    assert list(RULE.check(Context(inventory, Settings()))) == []


def test_cli(tmp_path: Path) -> None:
    result, out = scan_json(tmp_path, TEXT, "--select", "cni-no-enforcement", "--cni", "flannel")
    assert result.exit_code == 1
    assert [f["rule"] for f in out["findings"]] == ["cni-no-enforcement"]
    result, out = scan_json(tmp_path, TEXT, "--select", "cni-no-enforcement")
    assert result.exit_code == 0 and out["findings"] == []
