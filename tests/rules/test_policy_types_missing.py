"""policy-types-missing: the defaulted list written down, and the egress-only trap."""

from __future__ import annotations

from pathlib import Path

from netpol_fix.config import Settings
from netpol_fix.inventory.load import load_inventory
from netpol_fix.model.findings import ERROR, SAFE, UNSAFE, WARNING, Flow
from netpol_fix.rules.context import Context
from netpol_fix.rules.policy_types_missing import PolicyTypesMissing
from tests.rules.helpers import (
    apply_fix,
    connectivity_diff,
    context,
    docs,
    inventory_of,
    run,
    scan_json,
)

RULE = PolicyTypesMissing()

PODS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, ports: [{containerPort: 8080}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: shop}
spec:
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c, ports: [{containerPort: 5432}]}]}
"""

EGRESS_ONLY = PODS + """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-egress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  egress:
  - to: [{podSelector: {matchLabels: {app: db}}}]
"""

INGRESS_ONLY = PODS + """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-ingress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
"""


def test_egress_only_policy_is_an_error_that_names_the_ingress_denial() -> None:
    [finding] = run(RULE, EGRESS_ONLY)
    assert finding.severity == ERROR
    assert finding.object.name == "web-egress"
    assert "also denies all ingress to the pods it selects" in finding.message
    assert "policyTypes: [Egress]" in finding.message
    assert finding.affected == ["shop/Deployment/web"]


def test_an_empty_list_is_named_as_such() -> None:
    """`policyTypes: []` is defaulted like an absent field; the message says which it is."""
    empty = EGRESS_ONLY.replace("  egress:\n", "  policyTypes: []\n  egress:\n")
    [finding] = run(RULE, empty)
    assert "web-egress has an empty policyTypes list; the API server defaults it to " \
        "[Ingress, Egress]" in finding.message
    [finding] = run(RULE, EGRESS_ONLY)
    assert "web-egress omits policyTypes" in finding.message


def test_default_fix_writes_the_defaulted_list_and_changes_nothing() -> None:
    """For an egress-only policy, writing the default is the alternative (issue 13: it
    makes the ingress outage permanent), still exact: it changes nothing."""
    objects = docs(EGRESS_ONLY)
    ctx = context(objects)
    [finding] = RULE.check(ctx)
    [default] = finding.alternatives
    assert default.applicability == SAFE
    ops = default.patches[0].operations
    assert ops[0] == {"op": "test", "path": "/spec/podSelector",
                      "value": {"matchLabels": {"app": "web"}}}
    assert {"op": "test", "path": "/spec/egress",
            "value": objects[-1]["spec"]["egress"]} in ops
    assert ops[-1] == {"op": "add", "path": "/spec/policyTypes", "value": ["Ingress", "Egress"]}
    patched = apply_fix(objects, default)
    assert patched[-1]["spec"]["policyTypes"] == ["Ingress", "Egress"]
    after = inventory_of(patched)
    assert list(RULE.check(context(patched))) == []
    assert connectivity_diff(ctx, after) == (set(), set())
    assert default.opens == []


def test_egress_fix_reopens_exactly_the_ingress_it_lists() -> None:
    """The primary fix of an egress-only policy writes [Egress], what its rules say was
    meant; unsafe (it re-opens ingress), so `fix` leaves the finding until asked."""
    objects = docs(EGRESS_ONLY)
    ctx = context(objects)
    [finding] = RULE.check(ctx)
    alternative = finding.fix
    assert alternative is not None and alternative.applicability == UNSAFE
    assert "re-opens ingress" in alternative.description
    assert alternative.patches[0].operations[-1]["value"] == ["Egress"]
    patched = apply_fix(objects, alternative)
    opened, closed = connectivity_diff(ctx, inventory_of(patched))
    assert closed == set()
    assert set(alternative.opens) == opened
    assert Flow("shop/Deployment/db", "shop/Deployment/web", None) in opened
    assert list(RULE.check(context(patched))) == []


def test_ingress_only_policy_is_a_warning_with_ingress_default() -> None:
    [finding] = run(RULE, INGRESS_ONLY)
    assert finding.severity == WARNING
    assert "also denies" not in finding.message
    assert finding.alternatives == []
    assert finding.fix is not None
    ops = finding.fix.patches[0].operations
    assert ops[-1] == {"op": "add", "path": "/spec/policyTypes", "value": ["Ingress"]}
    assert [o["path"] for o in ops if o["op"] == "test"] == ["/spec/podSelector",
                                                             "/spec/ingress"]


def test_empty_egress_list_does_not_make_egress_default() -> None:
    text = PODS + """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec: {podSelector: {}, egress: []}
"""
    [finding] = run(RULE, text)
    assert finding.severity == WARNING
    assert finding.fix is not None
    assert finding.fix.patches[0].operations[-1]["value"] == ["Ingress"]


def test_explicit_policy_types_is_not_reported() -> None:
    text = PODS + """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-egress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {app: db}}}]}]
"""
    assert run(RULE, text) == []


def test_suppressed_by_annotation() -> None:
    text = EGRESS_ONLY.replace(
        "metadata: {name: web-egress, namespace: shop}",
        "metadata: {name: web-egress, namespace: shop, annotations: "
        "{netpol-fix.io/ignore: 'missing-dns-egress, policy-types-missing'}}")
    assert run(RULE, text) == []


def test_corpus_recipes(corpus: Path) -> None:
    """Every recipe that omits policyTypes is reported once, with the list the API
    server would default to."""
    inventory = load_inventory([str(corpus / "k8s-netpol-recipes")])
    findings = list(RULE.check(Context(inventory, Settings())))
    omitted = [p for p in inventory.policies if not p.policy_types_explicit]
    assert {f.object.name for f in findings} == {p.name for p in omitted}
    assert omitted
    for f in findings:
        assert f.fix is not None
        policy = next(p for p in omitted if p.name == f.object.name)
        assert f.fix.patches[0].operations[-1]["value"] == list(policy.policy_types)


def test_cli_reports_rule_with_exit_code_1(tmp_path: Path) -> None:
    result, out = scan_json(tmp_path, EGRESS_ONLY, "--select", "policy-types-missing")
    assert result.exit_code == 1
    [finding] = out["findings"]
    assert finding["rule"] == "policy-types-missing"
    assert finding["severity"] == "error"
    assert finding["fix"]["applicability"] == "unsafe"
    assert finding["fix"]["patches"][0]["operations"][-1]["value"] == ["Egress"]
    assert finding["alternatives"][0]["applicability"] == "safe"
