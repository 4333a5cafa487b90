"""egress-rules-ignored / ingress-rules-ignored: rules the API ignores, and what enforcing
them closes."""

from __future__ import annotations

from pathlib import Path

from netpol_fix.model.findings import UNSAFE, WARNING, Flow
from netpol_fix.rules.rules_ignored import EgressRulesIgnored, IngressRulesIgnored
from tests.rules.helpers import (
    apply_fix,
    connectivity_diff,
    context,
    docs,
    inventory_of,
    run,
    scan_json,
)
from tests.rules.test_policy_types_missing import PODS

EGRESS = EgressRulesIgnored()
INGRESS = IngressRulesIgnored()

CACHE = """
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cache, namespace: shop}
spec:
  template:
    metadata: {labels: {app: cache}}
    spec: {containers: [{name: c, ports: [{containerPort: 6379}]}]}
"""

EGRESS_IGNORED = PODS + CACHE + """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress: [{}]
  egress:
  - to: [{podSelector: {matchLabels: {app: db}}}]
    ports: [{port: 5432}]
"""

INGRESS_IGNORED = PODS + CACHE + """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Egress]
  egress: [{}]
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
"""


def test_egress_rules_ignored_is_reported_with_what_enforcing_them_closes() -> None:
    [finding] = run(EGRESS, EGRESS_IGNORED)
    assert finding.rule == "egress-rules-ignored" and finding.severity == WARNING
    assert "leaves out Egress" in finding.message
    assert "shop/Deployment/web -> shop/Deployment/cache (all connections)" in finding.message
    assert finding.affected == ["shop/Deployment/web"]
    assert run(INGRESS, EGRESS_IGNORED) == []


def test_egress_fix_adds_direction_and_dns_and_states_exactly_what_changes() -> None:
    objects = docs(EGRESS_IGNORED)
    ctx = context(objects)
    [finding] = EGRESS.check(ctx)
    fix = finding.fix
    assert fix is not None and fix.applicability == UNSAFE
    ops = fix.patches[0].operations
    assert ops[0] == {"op": "test", "path": "/spec/policyTypes", "value": ["Ingress"]}
    assert {"op": "add", "path": "/spec/policyTypes/-", "value": "Egress"} in ops
    assert ops[-1]["path"] == "/spec/egress/-"
    assert ops[-1]["value"]["ports"] == [{"port": 53, "protocol": "UDP"},
                                         {"port": 53, "protocol": "TCP"}]
    assert "name lookups keep working" in fix.description
    patched = apply_fix(objects, fix)
    after = inventory_of(patched)
    assert list(EGRESS.check(context(patched))) == []
    opened, closed = connectivity_diff(ctx, after)
    assert opened == set(fix.opens) == set()
    # DNS stays open; everything else web sent to is closed, and the message says so.
    dns = "kube-system/k8s-app=kube-dns"
    assert not any(f.destination == dns and f.port == 53 for f in closed)
    assert Flow("shop/Deployment/web", "shop/Deployment/cache", None) in closed
    assert "policyTypes [Ingress] leaves out Egress" in finding.message
    assert "shop/Deployment/web -> shop/Deployment/db (SCTP (all ports), TCP 1-5431, " \
        "TCP 5433-65535, UDP (all ports))" in finding.message


def test_no_dns_rule_when_dns_was_already_denied_by_another_policy() -> None:
    text = EGRESS_IGNORED + """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: shop}
spec: {podSelector: {}, policyTypes: [Egress]}
"""
    [finding] = run(EGRESS, text)
    assert finding.fix is not None
    assert all(o["path"] != "/spec/egress/-" for o in finding.fix.patches[0].operations)


def test_ingress_rules_ignored_fix_closes_what_it_says() -> None:
    objects = docs(INGRESS_IGNORED)
    ctx = context(objects)
    [finding] = INGRESS.check(ctx)
    assert finding.rule == "ingress-rules-ignored"
    assert finding.fix is not None
    assert finding.fix.patches[0].operations[-1] == {
        "op": "add", "path": "/spec/policyTypes/0", "value": "Ingress"}
    patched = apply_fix(objects, finding.fix)
    opened, closed = connectivity_diff(ctx, inventory_of(patched))
    assert opened == set(finding.fix.opens) == set()
    # Every client but web is cut off, the DNS pods (a stand-in) included.
    assert closed == {Flow("shop/Deployment/cache", "shop/Deployment/db", None),
                      Flow("kube-system/k8s-app=kube-dns", "shop/Deployment/db", None)}
    assert "shop/Deployment/cache -> shop/Deployment/db (all connections)" in finding.message
    assert list(INGRESS.check(context(patched))) == []
    assert run(EGRESS, INGRESS_IGNORED) == []


def test_omitted_policy_types_and_empty_rule_lists_are_not_reported() -> None:
    text = PODS + """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a, namespace: shop}
spec:
  podSelector: {}
  ingress: [{}]
  egress: [{}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress], egress: []}
"""
    assert run(EGRESS, text) == [] and run(INGRESS, text) == []


def test_suppressed_by_annotation() -> None:
    text = EGRESS_IGNORED.replace(
        "metadata: {name: web, namespace: shop}",
        "metadata: {name: web, namespace: shop, annotations: "
        "{netpol-fix.io/ignore: egress-rules-ignored}}")
    assert run(EGRESS, text) == []


def test_corpus_has_no_ignored_rules_in_kube_prometheus(corpus: Path) -> None:
    """kube-prometheus lists both directions wherever it writes rules: nothing to report."""
    from netpol_fix.config import Settings
    from netpol_fix.inventory.load import load_inventory
    from netpol_fix.rules.context import Context

    ctx = Context(load_inventory([str(corpus / "kube-prometheus")]), Settings())
    assert ctx.inventory.policies
    assert list(EGRESS.check(ctx)) == [] and list(INGRESS.check(ctx)) == []


def test_cli(tmp_path: Path) -> None:
    result, out = scan_json(tmp_path, INGRESS_IGNORED, "--select",
                            "ingress-rules-ignored,egress-rules-ignored")
    assert result.exit_code == 1
    assert [f["rule"] for f in out["findings"]] == ["ingress-rules-ignored"]
    assert out["findings"][0]["fix"]["applicability"] == "unsafe"


def test_adding_a_direction_keeps_comments_and_flow_style() -> None:
    """The direction is inserted: the existing item's comment and a flow list's style stay,
    and the result reads [Ingress, Egress]."""
    from netpol_fix.yamledit import apply_operations

    flow = INGRESS_IGNORED.replace("policyTypes: [Egress]",
                                   "policyTypes: [Egress]   # ingress below applies too")
    assert flow != INGRESS_IGNORED
    [finding] = run(INGRESS, flow)
    assert finding.fix is not None
    patch = finding.fix.patches[0]
    assert patch.source is not None and patch.source.location is not None
    text = flow.lstrip("\n")
    new = apply_operations(text, patch.source.location.document, patch.operations)
    assert "policyTypes: [Ingress, Egress]   # ingress below applies too" in new
    assert len(new.splitlines()) == len(text.splitlines())
