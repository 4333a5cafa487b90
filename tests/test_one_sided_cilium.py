"""one-sided-allow with the explicit allow in a CiliumNetworkPolicy (rules/cilium_evidence.py).

Cilium's policy language reference (docs.cilium.io, Policy Language, "Layer 3 Examples"
and "Deny Policies"): "policies are additive", an endpoint is allowed what any rule
selecting it allows; a rule selecting an endpoint puts it in default deny for that
direction only; a connection needs the source's egress and the destination's ingress.
An endpointSelector peer without a namespace label selects endpoints of the policy's own
namespace ("namespace-scoped" CiliumNetworkPolicy).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from netpol_fix.cli import main

WORKLOADS = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: db}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: front}}
    spec: {containers: [{name: main, image: example/web}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: postgres, namespace: db}
spec:
  selector: {matchLabels: {app: postgres}}
  template:
    metadata: {labels: {app: postgres}}
    spec:
      containers:
      - name: main
        image: postgres:16
        ports: [{containerPort: 5432}, {containerPort: 9187}]
"""

DENY_ALL = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: %s}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
"""


def cnp(name: str, namespace: str, selector: str, section: str, peers: str,
        port: int) -> str:
    return f"""
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  endpointSelector: {{matchLabels: {{{selector}}}}}
  {section}:
  - {"fromEndpoints" if section == "ingress" else "toEndpoints"}: [{peers}]
    toPorts: [{{ports: [{{port: "{port}", protocol: TCP}}]}}]
"""


def scan(tmp_path: Path, *docs: str, cni: str = "cilium") -> list[dict[str, Any]]:
    (tmp_path / "all.yaml").write_text("---".join([WORKLOADS, *docs]))
    result = CliRunner().invoke(main, ["scan", "--format", "json", "--select",
                                       "one-sided-allow", "--cni", cni, str(tmp_path)])
    assert result.exit_code in (0, 1), result.output
    data = json.loads(result.stdout)
    return data["findings"] if isinstance(data, dict) else data


WEB_IN_SHOP = "{matchLabels: {app: web, k8s:io.kubernetes.pod.namespace: shop}}"
POSTGRES_IN_DB = "{matchLabels: {app: postgres, k8s:io.kubernetes.pod.namespace: db}}"


def test_cilium_egress_rule_against_networkpolicy_default_deny_ingress(tmp_path: Path
                                                                       ) -> None:
    """The mirror case: web's CNP egress names postgres; db's NetworkPolicy default deny
    drops it at the destination; the fix is a NetworkPolicy ingress rule in db."""
    findings = scan(tmp_path, cnp("web-out", "shop", "app: web", "egress", POSTGRES_IN_DB,
                                  5432), DENY_ALL % "db")
    assert len(findings) == 1
    finding = findings[0]
    assert finding["object"]["name"] == "default-deny"
    assert finding["object"]["namespace"] == "db"
    assert "egress of CiliumNetworkPolicy shop/web-out explicitly allows TCP 5432 from " \
           "shop/web[Deployment] to db/postgres[StatefulSet]" in finding["message"]
    created = finding["fix"]["creates"][0]
    rule = created["object"]["spec"]["ingress"][0] if "object" in created \
        else created["spec"]["ingress"][0]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "shop"}}, "podSelector": {"matchLabels": {
            "app": "web"}}}]
    assert rule["ports"] == [{"protocol": "TCP", "port": 5432}]


def test_allows_of_several_policies_add_up(tmp_path: Path) -> None:
    """Two CNPs each admit web on one port; web's own egress NetworkPolicy admits 5432:
    only 9187, which nothing on web's side admits, is dropped, and only the policy that
    allows it is named."""
    egress_5432 = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-out, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: db}},
          podSelector: {matchLabels: {app: postgres}}}]
    ports: [{port: 5432}]
"""
    findings = scan(tmp_path,
                    cnp("pg", "db", "app: postgres", "ingress", WEB_IN_SHOP, 5432),
                    cnp("metrics", "db", "app: postgres", "ingress", WEB_IN_SHOP, 9187),
                    DENY_ALL % "shop", egress_5432)
    assert len(findings) == 1
    message = findings[0]["message"]
    assert "CiliumNetworkPolicy db/metrics explicitly allows TCP 9187 " in message
    assert "db/pg" not in message and "5432" not in message.split("(")[0]


def test_peer_without_namespace_label_is_the_policy_namespace(tmp_path: Path) -> None:
    """`fromEndpoints: [{app: web}]` in namespace db names db's web pods: db's own web is
    the peer its default deny drops, never shop's web (shop denies egress too)."""
    db_web = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: db}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: main, image: example/web}]}
"""
    findings = scan(tmp_path, db_web, cnp("pg", "db", "app: postgres", "ingress",
                                          "{matchLabels: {app: web}}", 5432),
                    DENY_ALL % "shop", DENY_ALL % "db")
    assert len(findings) == 1
    assert "from db/web[Deployment] to db/postgres[StatefulSet]" in findings[0]["message"]
    assert "shop/web" not in findings[0]["message"]


def test_a_class_selector_is_no_evidence(tmp_path: Path) -> None:
    """`tier: front` of shop names a class of pods: a permission, not a statement."""
    peers = "{matchLabels: {tier: front, k8s:io.kubernetes.pod.namespace: shop}}"
    findings = scan(tmp_path, cnp("pg", "db", "app: postgres", "ingress", peers, 5432),
                    DENY_ALL % "shop")
    assert findings == []


def test_not_read_where_cilium_does_not_enforce(tmp_path: Path) -> None:
    """Under another CNI a CiliumNetworkPolicy is stored, not enforced: no evidence."""
    docs = (cnp("pg", "db", "app: postgres", "ingress", WEB_IN_SHOP, 5432), DENY_ALL % "shop")
    assert len(scan(tmp_path, *docs)) == 1
    assert scan(tmp_path, *docs, cni="calico") == []


ANP_DENY_PG = """
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: no-db-from-shop}
spec:
  priority: 10
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}
  egress:
  - name: no-pg
    action: Deny
    to: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: db}}}]
    ports: [{portNumber: {port: 5432, protocol: TCP}}]
"""

NP_INGRESS_FROM_WEB = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: pg, namespace: db}
spec:
  podSelector: {matchLabels: {app: postgres}}
  policyTypes: [Ingress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}},
            podSelector: {matchLabels: {app: web}}}]
    ports: [{port: 5432}]
"""


def test_an_admin_deny_on_the_other_side_is_told_without_a_fix(tmp_path: Path) -> None:
    """network-policy-api: an AdminNetworkPolicy Deny decides before any NetworkPolicy, so
    a NetworkPolicy egress rule for web could not open TCP 5432 to db: the finding names
    the ANP rule and offers no fix (both where the allow is a CNP and a NetworkPolicy)."""
    for allowing in (cnp("pg", "db", "app: postgres", "ingress", WEB_IN_SHOP, 5432),
                     NP_INGRESS_FROM_WEB):
        findings = scan(tmp_path, allowing, DENY_ALL % "shop", ANP_DENY_PG, cni="unknown")
        assert len(findings) == 1, findings
        finding = findings[0]
        assert finding["severity"] == "warning"
        assert finding["fix"] is None
        assert finding["object"]["name"] == "no-db-from-shop"
        assert "ANP no-db-from-shop egress rule no-pg drops it first" in finding["message"]
        # without the ANP the NetworkPolicy default deny is the cause, with a fix
        plain = scan(tmp_path, allowing, DENY_ALL % "shop", cni="unknown")
        assert len(plain) == 1 and plain[0]["severity"] == "error"
