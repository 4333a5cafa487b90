"""namespace-selector-unmatched: selectors no namespace satisfies, and the two fixes."""

from __future__ import annotations

from pathlib import Path

from netpol_fix.config import Settings
from netpol_fix.inventory.load import load_inventory
from netpol_fix.model.findings import ERROR, SAFE, UNSAFE, Flow
from netpol_fix.rules.context import Context
from netpol_fix.rules.namespace_selector_unmatched import (
    NamespaceSelectorUnmatched,
    escape_pointer,
)
from tests.rules.helpers import (
    apply_fix,
    connectivity_diff,
    context,
    docs,
    inventory_of,
    run,
    scan_json,
)

RULE = NamespaceSelectorUnmatched()

BASE = """
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: c, ports: [{containerPort: 8080}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout, namespace: payments}
spec:
  template:
    metadata: {labels: {app: checkout}}
    spec: {containers: [{name: c}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: other, namespace: payments-staging}
spec:
  template:
    metadata: {labels: {app: checkout}}
    spec: {containers: [{name: c}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {name: payments}}
    ports: [{port: 8080}]
"""

DECLARED = """
---
apiVersion: v1
kind: Namespace
metadata:
  name: payments
  labels: {team: payments}
"""


def test_selector_naming_a_live_namespace_labels_it_with_a_live_patch() -> None:
    objects = docs(BASE)
    ctx = context(objects)
    [finding] = RULE.check(ctx)
    assert finding.severity == ERROR
    assert finding.affected == ["shop/Deployment/api"]
    assert "namespace payments exists" in finding.message
    fix = finding.fix
    assert fix is not None and fix.applicability == SAFE
    [patch] = fix.patches
    assert patch.source is None and patch.object.kind == "Namespace"
    assert "live Namespace" in fix.description
    assert patch.operations[0] == {"op": "test", "path": "/metadata/name", "value": "payments"}
    assert patch.operations[-1] == {"op": "add", "path": "/metadata/labels/name",
                                    "value": "payments"}
    patched = apply_fix(objects, fix)
    opened, closed = connectivity_diff(ctx, inventory_of(patched))
    assert closed == set()
    assert opened == set(fix.opens) == {
        Flow("payments/Deployment/checkout", "shop/Deployment/api", "TCP", 8080)}
    assert list(RULE.check(context(patched))) == []


def test_declared_namespace_manifest_gets_the_label_next_to_its_labels() -> None:
    objects = docs(BASE + DECLARED)
    ctx = context(objects)
    [finding] = RULE.check(ctx)
    assert finding.fix is not None
    [patch] = finding.fix.patches
    assert patch.source is not None and "live" not in finding.fix.description
    # only what the fix relies on: the object, and (at apply) the key being absent; not
    # the whole labels map, which a live Namespace always extends (issue 13)
    assert patch.operations == [
        {"op": "test", "path": "/metadata/name", "value": "payments"},
        {"op": "add", "path": "/metadata/labels/name", "value": "payments"},
    ]
    patched = apply_fix(objects, finding.fix)
    assert patched[-1]["metadata"]["labels"] == {"team": "payments", "name": "payments"}
    opened, closed = connectivity_diff(ctx, inventory_of(patched))
    assert closed == set() and opened == set(finding.fix.opens) and opened
    assert list(RULE.check(context(patched))) == []


def test_namespace_without_labels_gets_the_whole_map_and_keys_are_escaped() -> None:
    text = (BASE.replace("{name: payments}", "{example.com/tenant: payments}")
            + "\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: payments}\n")
    objects = docs(text)
    [finding] = RULE.check(context(objects))
    assert finding.fix is not None
    assert finding.fix.patches[0].operations[-1] == {
        "op": "add", "path": "/metadata/labels", "value": {"example.com/tenant": "payments"}}
    assert escape_pointer("example.com/tenant") == "example.com~1tenant"
    assert escape_pointer("a~b") == "a~0b"
    assert list(RULE.check(context(apply_fix(objects, finding.fix)))) == []


def test_prefer_selector_rewrites_the_peer_and_opens_only_that_namespace() -> None:
    objects = docs(BASE)
    ctx = context(objects, prefer_selector=True)
    [finding] = RULE.check(ctx)
    fix = finding.fix
    assert fix is not None and fix.applicability == SAFE
    assert fix.patches[0].operations == [
        {"op": "test", "path": "/spec/ingress/0/from/0/namespaceSelector",
         "value": {"matchLabels": {"name": "payments"}}},
        {"op": "replace", "path": "/spec/ingress/0/from/0/namespaceSelector",
         "value": {"matchLabels": {"kubernetes.io/metadata.name": "payments"}}},
    ]
    [alternative] = finding.alternatives
    assert alternative.patches[0].object.kind == "Namespace"
    patched = apply_fix(objects, fix)
    opened, closed = connectivity_diff(ctx, inventory_of(patched))
    assert closed == set()
    assert opened == set(fix.opens) == {
        Flow("payments/Deployment/checkout", "shop/Deployment/api", "TCP", 8080)}
    assert list(RULE.check(context(patched))) == []


def test_label_fix_is_unsafe_when_the_label_also_satisfies_another_selector() -> None:
    text = BASE + """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: admin, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
  - from: [{namespaceSelector: {matchExpressions: [{key: name, operator: Exists}]}}]
"""
    objects = docs(text)
    ctx = context(objects)
    findings = list(RULE.check(ctx))
    # The Exists selector is ambiguous (no namespace named in it), the other is fixable.
    fixable = [f for f in findings if f.fix is not None]
    [finding] = fixable
    assert finding.object.name == "api"
    assert finding.fix is not None and finding.fix.applicability == UNSAFE
    assert "NetworkPolicy shop/admin" in finding.fix.description
    opened, _ = connectivity_diff(ctx, inventory_of(apply_fix(objects, finding.fix)))
    assert opened == set(finding.fix.opens)
    assert Flow("payments/Deployment/checkout", "shop/Deployment/api", None) in opened


def test_ambiguous_selector_lists_known_namespaces_and_offers_no_fix() -> None:
    text = BASE.replace("{matchLabels: {name: payments}}",
                        "{matchExpressions: [{key: name, operator: In, "
                        "values: [payments, payments-staging]}]}")
    [finding] = run(RULE, text)
    assert finding.fix is None and finding.alternatives == []
    assert "several namespaces could be meant" in finding.message
    assert "shop {kubernetes.io/metadata.name=shop, team=shop}" in finding.message


def test_selector_naming_no_namespace_is_reported_without_fix() -> None:
    [finding] = run(RULE, BASE.replace("{name: payments}", "{tier: backend}"))
    assert finding.fix is None
    assert "it names no known namespace" in finding.message
    assert "payments {kubernetes.io/metadata.name=payments}" in finding.message


def test_matching_selectors_and_namespaces_outside_the_sources_are_not_reported() -> None:
    matching = BASE.replace("{name: payments}", "{team: shop}")
    assert run(RULE, matching) == []
    by_name = BASE.replace("{name: payments}", "{kubernetes.io/metadata.name: payments}")
    assert run(RULE, by_name) == []
    elsewhere = BASE.replace("{name: payments}", "{kubernetes.io/metadata.name: istio-system}")
    assert run(RULE, elsewhere) == []


def test_undeclared_namespaces_match_only_their_name_label() -> None:
    """payments is used but not declared: it has no `team` label, whatever it is called."""
    [finding] = run(RULE, BASE.replace("{name: payments}", "{team: payments}"))
    assert finding.fix is not None
    assert finding.fix.patches[0].operations[-1]["path"] == "/metadata/labels/team"


def test_one_finding_per_peer() -> None:
    text = BASE.replace("""    - namespaceSelector: {matchLabels: {name: payments}}
""", """    - namespaceSelector: {matchLabels: {name: payments}}
    - namespaceSelector: {matchLabels: {name: payments}}
      podSelector: {matchLabels: {app: checkout}}
""")
    findings = run(RULE, text)
    assert len(findings) == 2
    assert {f.message.split(" in ")[1].split(" of ")[0] for f in findings} == {
        "ingress rule #1 peer #1", "ingress rule #1 peer #2"}


def test_suppressed_by_annotation() -> None:
    text = BASE.replace("metadata: {name: api, namespace: shop}\nspec:\n  podSelector",
                        "metadata: {name: api, namespace: shop, annotations: "
                        "{netpol-fix.io/ignore: all}}\nspec:\n  podSelector")
    assert run(RULE, text) == []


def test_corpus_kubeflow_runtime_profile_labels(corpus: Path) -> None:
    """Kubeflow admits profile namespaces by a label its controller adds at runtime: the
    sources cannot show such a namespace, so each such peer is reported, without a fix;
    selectors by name of namespaces the sources do not hold (istio-system...) are not."""
    ctx = Context(load_inventory([str(corpus / "kubeflow-manifests")]), Settings())
    findings = list(RULE.check(ctx))
    profile = [f for f in findings if "kubeflow-profile" in f.message]
    assert profile and all(f.fix is None for f in profile)
    assert not any("kubernetes.io/metadata.name in" in f.message for f in findings)
    keys = [(f.object.namespace, f.object.name, f.message) for f in findings]
    assert len(keys) == len(set(keys))


def test_cli(tmp_path: Path) -> None:
    result, out = scan_json(tmp_path, BASE, "--select", "namespace-selector-unmatched")
    assert result.exit_code == 1
    [finding] = out["findings"]
    assert finding["rule"] == "namespace-selector-unmatched"
    assert finding["fix"]["patches"][0]["object"]["kind"] == "Namespace"
    result, out = scan_json(tmp_path, BASE, "--select", "namespace-selector-unmatched",
                            "--prefer-selector")
    assert result.exit_code == 1
    assert out["findings"][0]["fix"]["patches"][0]["object"]["kind"] == "NetworkPolicy"
