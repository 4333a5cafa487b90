"""cilium-icmp-denied: L4-only ingress under Cilium, and the CiliumNetworkPolicy that fixes it."""

from __future__ import annotations

import json

from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.config import Settings
from netpol_fix.inventory.load import load_inventory
from netpol_fix.model.findings import UNSAFE, Flow
from netpol_fix.rules.cilium_icmp_denied import CiliumIcmpDenied
from netpol_fix.rules.context import Context
from tests.rules.helpers import context, rescan

RULE = CiliumIcmpDenied()

BASE = """
apiVersion: v1
kind: Namespace
metadata: {name: ops, labels: {team: ops}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: shop, labels: {app: client}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: probe, namespace: ops, labels: {app: probe}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: shop, labels: {app: other}}
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
  - from:
    - podSelector: {matchLabels: {app: client}}
    - namespaceSelector: {matchLabels: {team: ops}}
      podSelector: {matchLabels: {app: probe}}
    ports: [{port: 8080}]
  - from: [{ipBlock: {cidr: 192.0.2.0/24, except: [192.0.2.0/28]}}]
    ports: [{port: 443}]
"""


def text(annotations: str = "") -> str:
    return BASE.replace("ANNOTATIONS", annotations)


def test_l4_only_ingress_under_cilium_is_reported_with_a_cnp_fix() -> None:
    ctx = context(text(), cni="cilium")
    [finding] = RULE.check(ctx)
    assert finding.affected == ["shop/Pod/web"]
    fix = finding.fix
    assert fix is not None and fix.applicability == UNSAFE and fix.patches == []
    [new] = fix.creates
    assert new.after is ctx.inventory.policies[0].source
    icmps = [{"fields": [{"type": 8, "family": "IPv4"}, {"type": 128, "family": "IPv6"}]}]
    assert new.obj == {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "web-icmp", "namespace": "shop"},
        "spec": {
            "endpointSelector": {"matchLabels": {"app": "web"}},
            "ingress": [
                {"fromEndpoints": [
                    {"matchLabels": {"app": "client", "k8s:io.kubernetes.pod.namespace": "shop"}},
                    {"matchLabels": {"app": "probe",
                                     "k8s:io.cilium.k8s.namespace.labels.team": "ops"}}],
                 "icmps": icmps},
                {"fromCIDRSet": [{"cidr": "192.0.2.0/24", "except": ["192.0.2.0/28"]}],
                 "icmps": icmps},
            ]}}
    assert all("toPorts" not in rule for rule in new.obj["spec"]["ingress"])
    assert fix.opens == [Flow("192.0.2.0/24 except 192.0.2.0/28", "shop/Pod/web", "ICMP"),
                         Flow("ops/Pod/probe", "shop/Pod/web", "ICMP"),
                         Flow("shop/Pod/client", "shop/Pod/web", "ICMP")]
    _, again = rescan(ctx, fix, RULE)
    assert again == []  # the created policy is recognised: idempotent


def test_not_under_other_cnis() -> None:
    assert list(RULE.check(context(text(), cni="calico"))) == []


def test_rule_without_ports_lets_icmp_through() -> None:
    ctx = context(text().replace("    ports: [{port: 443}]\n", ""), cni="cilium")
    assert list(RULE.check(ctx)) == []


def test_deny_all_is_intended() -> None:
    ctx = context("""
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: deny, namespace: shop}
    spec: {podSelector: {}, policyTypes: [Ingress]}
    """, cni="cilium")
    assert list(RULE.check(ctx)) == []


def test_existing_cnp_with_icmps_for_same_selector() -> None:
    cnp = """
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: ping, namespace: shop}
spec:
  endpointSelector: {matchLabels: {"k8s:app": web}}
  ingress:
  - fromEntities: [cluster]
    icmps: [{fields: [{type: 8}]}]
"""
    assert list(RULE.check(context(text() + cnp, cni="cilium"))) == []
    other_ns = cnp.replace("namespace: shop", "namespace: ops")
    assert len(list(RULE.check(context(text() + other_ns, cni="cilium")))) == 1


def test_all_peers_rule_uses_entity_all_and_egress_ports_limit_opens() -> None:
    extra = """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-egress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{ports: [{port: 8080}]}]
"""
    policy = text().replace("""  - from:
    - podSelector: {matchLabels: {app: client}}
    - namespaceSelector: {matchLabels: {team: ops}}
      podSelector: {matchLabels: {app: probe}}
    ports""", "  - ports")
    ctx = context(policy + extra, cni="cilium")
    [finding] = RULE.check(ctx)
    assert finding.fix is not None
    rules = finding.fix.creates[0].obj["spec"]["ingress"]
    assert rules == [{"fromEntities": ["all"], "icmps": rules[0]["icmps"]}]
    sources = {f.source for f in finding.fix.opens}
    # the client's own egress policy lists ports: its ping still cannot leave
    assert "shop/Pod/client" not in sources
    assert {"ops/Pod/probe", "shop/Pod/other", "all"} <= sources


def test_suppressed() -> None:
    ctx = context(text('annotations: {"netpol-fix.io/ignore": "cilium-icmp-denied"}'),
                  cni="cilium")
    assert list(RULE.check(ctx)) == []


def test_corpus_cilium_knps_without_ports_are_fine(corpus) -> None:  # type: ignore[no-untyped-def]
    inventory = load_inventory([str(corpus / "cilium")])
    assert len(inventory.policies) == 8
    assert list(RULE.check(Context(inventory, Settings(cni="cilium")))) == []


def test_corpus_online_boutique_fixes_are_idempotent(corpus) -> None:  # type: ignore[no-untyped-def]
    inventory = load_inventory([str(corpus / "online-boutique")])
    ctx = Context(inventory, Settings(cni="cilium"))
    findings = list(RULE.check(ctx))
    assert len(findings) == 10
    for finding in findings:
        assert finding.fix is not None
        [new] = finding.fix.creates
        assert new.obj["metadata"]["name"] == finding.object.name + "-icmp"
        for rule in new.obj["spec"]["ingress"]:
            assert "icmps" in rule and "toPorts" not in rule
    adservice = next(f for f in findings if f.object.name == "adservice")
    assert adservice.fix is not None
    assert adservice.fix.opens == [Flow("default/Deployment/frontend",
                                        "default/Deployment/adservice", "ICMP")]
    _, again = rescan(ctx, adservice.fix, RULE)
    assert len(again) == 9 and all(f.object.name != "adservice" for f in again)


def test_corpus_icmp_example_recognised(corpus) -> None:  # type: ignore[no-untyped-def]
    base = context(text(), cni="cilium")
    icmp = corpus / "cilium/cilium-cli/connectivity/builder/manifests/echo-ingress-icmp.yaml"
    inventory = load_inventory([str(icmp)])
    [source] = inventory.cilium_policies
    # its endpointSelector is kind=client in the default namespace, not ours: still reported
    base.inventory.cilium_policies.append(source)
    assert len(list(RULE.check(base))) == 1


def test_cli(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "np.yaml"
    path.write_text(text())
    result = CliRunner().invoke(main, ["scan", "--format", "json", "--cni", "cilium",
                                       "--select", RULE.id, str(path)])
    assert result.exit_code == 1, result.output
    [finding] = json.loads(result.output)["findings"]
    assert finding["fix"]["creates"][0]["kind"] == "CiliumNetworkPolicy"
    assert {"from": "shop/Pod/client", "to": "shop/Pod/web", "protocol": "ICMP",
            "port": None} in finding["fix"]["opens"]


def test_icmp_flows_read_without_ports() -> None:
    from netpol_fix.model.findings import Flow
    assert str(Flow("shop/Pod/client", "shop/Pod/web", "ICMP")) == \
        "shop/Pod/client -> shop/Pod/web ICMP"
    assert Flow("a", "b", "TCP").connections == "TCP (all ports)"


def test_peers_without_pods_in_the_sources_are_listed_by_selector() -> None:
    """The new policy admits ping from every pod its peers select, also those the sources
    do not hold: `opens` names those peers by their selectors instead of saying nothing."""
    text = """
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}},
            podSelector: {matchLabels: {app: prometheus}}},
           {podSelector: {matchLabels: {app: gateway}}}]
    ports: [{port: 8080}]
"""
    [finding] = RULE.check(context(text, cni="cilium"))
    assert finding.fix is not None
    assert {f.source for f in finding.fix.opens} == {
        "namespaceSelector kubernetes.io/metadata.name=monitoring and podSelector app=prometheus",
        "shop: podSelector app=gateway"}
    assert all(f.destination == "shop/Pod/web" and f.protocol == "ICMP"
               for f in finding.fix.opens)
