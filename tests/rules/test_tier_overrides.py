"""tier-overrides-allow: an ANP Deny or a Cilium deny rule shadowing a NetworkPolicy's
explicit allow."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from netpol_fix.cli import main

BASE = """\
apiVersion: v1
kind: Namespace
metadata: {name: mon, labels: {team: mon}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c, ports: [{containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: prom, namespace: mon, labels: {app: prom}}
spec: {containers: [{name: c}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-mon, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress: [{from: [{namespaceSelector: {matchLabels: {team: mon}}}]}]
---
"""

ANP_DENY = """\
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: no-monitoring}
spec:
  priority: 10
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}
  ingress:
  - {name: deny-mon, action: ACTION, from: [{namespaces: {matchLabels: {team: mon}}}]}
"""

CNP_DENY = """\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: deny-mon, namespace: shop}
spec:
  endpointSelector: {}
  ingressDeny:
  - fromEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: mon}}]
    toPorts: [{ports: [{port: "8080", protocol: TCP}]}]
"""


def findings(tmp_path: Path, text: str) -> list[dict[str, object]]:
    (tmp_path / "all.yaml").write_text(BASE + text)
    result = CliRunner().invoke(main, ["scan", str(tmp_path), "-o", "json"])
    assert result.exit_code in (0, 1), result.output
    return [f for f in json.loads(result.stdout)["findings"]
            if f["rule"] == "tier-overrides-allow"]


def test_anp_deny_shadows_the_networkpolicy_allow(tmp_path: Path) -> None:
    """ANP Deny: "This action cannot be overridden by NetworkPolicy"."""
    found = findings(tmp_path, ANP_DENY.replace("ACTION", "Deny"))
    assert len(found) == 1
    message = str(found[0]["message"])
    assert message.startswith("NetworkPolicy shop/allow-mon allows 1 flow(s) that "
                              "AdminNetworkPolicy no-monitoring denies first")
    assert "mon/Pod/prom -> shop/Pod/web All Connections" in message
    assert found[0]["fix"] is None


def test_anp_pass_or_allow_is_no_override(tmp_path: Path) -> None:
    assert findings(tmp_path, ANP_DENY.replace("ACTION", "Pass")) == []
    assert findings(tmp_path, ANP_DENY.replace("ACTION", "Allow")) == []


def test_cilium_deny_rule_shadows_the_allow_on_its_port(tmp_path: Path) -> None:
    """deny.rst: deny policies take precedence "even [over] a Kubernetes Network Policy"."""
    found = findings(tmp_path, CNP_DENY)
    assert len(found) == 1 and "TCP 8080" in str(found[0]["message"])
    assert "CiliumNetworkPolicy shop/deny-mon" in str(found[0]["message"])


def test_no_admin_or_cilium_policy_no_finding(tmp_path: Path) -> None:
    assert findings(tmp_path, "") == []
