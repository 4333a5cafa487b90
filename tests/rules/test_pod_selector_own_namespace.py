"""pod-selector-own-namespace: podSelector peers meant for another namespace; expectations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.config import ConfigError, Expectation, Settings, load_settings
from netpol_fix.inventory.load import load_inventory
from netpol_fix.model.findings import UNSAFE, Flow
from netpol_fix.rules.context import Context
from netpol_fix.rules.pod_selector_own_namespace import PodSelectorOwnNamespace
from tests.rules.helpers import context, rescan

RULE = PodSelectorOwnNamespace()

TEXT = """
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c, ports: [{name: metrics, containerPort: 9090}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: prometheus, namespace: monitoring, labels: {app: prometheus}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: edge, labels: {app: client}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: shop, labels: {app: client}}
spec: {containers: [{name: c}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
  namespace: shop
  ANNOTATIONS
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: prometheus}}}]
    ports: [{port: 9090}]
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 8080}]
"""


def text(annotations: str = "labels: {}") -> str:
    return TEXT.replace("ANNOTATIONS", annotations)


def test_selector_matching_only_other_namespaces() -> None:
    ctx = context(text())
    [finding] = RULE.check(ctx)
    assert "ingress rule #1 peer #1" in finding.message and "monitoring" in finding.message
    assert finding.affected == ["monitoring/Pod/prometheus"]
    fix = finding.fix
    assert fix is not None and fix.applicability == UNSAFE
    assert fix.patches[0].operations == [
        {"op": "test", "path": "/spec/ingress/0/from",
         "value": [{"podSelector": {"matchLabels": {"app": "prometheus"}}}]},
        {"op": "add", "path": "/spec/ingress/0/from/-", "value": {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
            "podSelector": {"matchLabels": {"app": "prometheus"}}}}]
    assert fix.opens == [Flow("monitoring/Pod/prometheus", "shop/Pod/web", "TCP", 9090)]
    _, again = rescan(ctx, fix, RULE)
    assert again == []


def test_expectation_names_the_other_namespace() -> None:
    expect = (Expectation("edge/client", "shop/web", 8080, "TCP"),)
    ctx = context(text(), expect=expect)
    findings = {f.message.split(" peer")[0]: f for f in RULE.check(ctx)}
    finding = findings["NetworkPolicy shop/web ingress rule #2"]
    assert "edge/client -> shop/web is expected" in finding.message
    assert finding.fix is not None
    assert finding.fix.opens == [Flow("edge/Pod/client", "shop/Pod/web", "TCP", 8080)]
    _, again = rescan(ctx, finding.fix, RULE)
    assert [f.message for f in again if "rule #2" in f.message] == []


def test_expectation_on_a_port_the_rule_does_not_admit_is_not_this_rule() -> None:
    ctx = context(text(), expect=(Expectation("edge/client", "shop/web", 443, "TCP"),))
    assert ["rule #2" in f.message for f in RULE.check(ctx)] == [False]


def test_selector_matching_own_namespace_is_fine() -> None:
    ctx = context(text().replace("app: prometheus}}}]", "app: client}}}]"))
    assert list(RULE.check(ctx)) == []


def test_suppressed() -> None:
    ctx = context(text('annotations: {"netpol-fix.io/ignore": "pod-selector-own-namespace"}'))
    assert list(RULE.check(ctx)) == []


def test_expect_setting_is_read_and_validated(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    config = tmp_path / ".netpol-fix.yaml"
    config.write_text("expect:\n- {from: edge/client, to: shop/web, port: 8080}\n")
    settings = load_settings({}, tmp_path)
    assert settings.expect == (Expectation("edge/client", "shop/web", 8080, "TCP"),)
    config.write_text("expect:\n- {from: client, to: shop/web}\n")
    with pytest.raises(ConfigError, match=r"expect\[0\].from must be NAMESPACE/NAME"):
        load_settings({}, tmp_path)
    config.write_text("expect:\n- {from: a/b, to: c/d, protocol: ICMP}\n")
    with pytest.raises(ConfigError, match="protocol"):
        load_settings({}, tmp_path)


def test_corpus_namespace_pinned_peers_are_fine(corpus) -> None:  # type: ignore[no-untyped-def]
    """kube-prometheus and argo-cd pin cross-namespace peers with namespaceSelectors."""
    for name in ("kube-prometheus", "argo-cd"):
        inventory = load_inventory([str(corpus / name)])
        assert inventory.policies
        assert list(RULE.check(Context(inventory, Settings()))) == []


def test_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "np.yaml").write_text(text())
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["scan", "--format", "json", "--cni", "calico",
                                       "--select", RULE.id, "np.yaml"])
    assert result.exit_code == 1, result.output
    [finding] = json.loads(result.output)["findings"]
    assert finding["fix"]["opens"] == [{"from": "monitoring/Pod/prometheus",
                                        "to": "shop/Pod/web", "protocol": "TCP", "port": 9090}]


def test_not_reported_when_another_rule_admits_the_scraper() -> None:
    """`explain` says allowed: a second rule admits all of monitoring; the peer is not why
    anything is denied."""
    admitted = text() + """  - from: [{namespaceSelector: {matchLabels: {
        kubernetes.io/metadata.name: monitoring}}}]
"""
    assert [f.message for f in RULE.check(context(admitted))
            if "prometheus" in f.message] == []


def test_not_reported_when_the_source_egress_denies_it_too() -> None:
    """prometheus's own egress denies everything: fixing the peer would open nothing, the
    peer is not the only reason (explain: denied by egress and ingress)."""
    denied = text() + """---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: monitoring}
spec: {podSelector: {}, policyTypes: [Egress]}
"""
    assert [f for f in RULE.check(context(denied)) if "prometheus" in f.message] == []
    assert [f for f in RULE.check(context(text())) if "prometheus" in f.message]
