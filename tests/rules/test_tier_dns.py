"""missing-dns-egress when a CiliumNetworkPolicy, an AdminNetworkPolicy or the
BaselineAdminNetworkPolicy takes DNS away: the finding names that policy and the fix goes
into the same kind; `fix` then leaves nothing to report."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from netpol_fix.cli import main

PODS = """\
apiVersion: v1
kind: Pod
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c}]}
---
"""

CNP_FQDN = """\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-egress, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
  - toFQDNs: [{matchName: api.example.com}]
"""

BANP = """\
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}
  egress:
  - {name: deny-all, action: Deny, to: [{namespaces: {}}]}
"""

ANP = BANP.replace("BaselineAdminNetworkPolicy", "AdminNetworkPolicy").replace(
    "name: default}", "name: lockdown}").replace("spec:\n", "spec:\n  priority: 5\n")

CILIUM_DENY = """\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: no-dns, namespace: shop}
spec:
  endpointSelector: {}
  egressDeny:
  - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system}}]
"""


def scan(path: Path) -> list[dict[str, object]]:
    result = CliRunner().invoke(main, ["scan", str(path), "-o", "json"])
    assert result.exit_code in (0, 1), result.output
    return [f for f in json.loads(result.stdout)["findings"]
            if f["rule"] == "missing-dns-egress"]


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "all.yaml").write_text(PODS + text)
    return tmp_path


def fixed_and_rescanned(path: Path) -> list[dict[str, object]]:
    result = CliRunner().invoke(main, ["fix", str(path)])
    assert result.exit_code in (0, 1), result.output
    return scan(path)


def test_a_cnp_that_isolates_egress_gets_a_cnp_dns_rule_with_the_dns_proxy(
        tmp_path: Path) -> None:
    """toFQDNs: "An explicit rule to allow for DNS traffic is needed for the pods, as
    ToFQDN counts as an egress rule"; the fix adds `rules: dns` so the proxy sees lookups."""
    path = write(tmp_path, CNP_FQDN)
    findings = scan(path)
    assert len(findings) == 1
    assert findings[0]["object"]["kind"] == "CiliumNetworkPolicy"  # type: ignore[index]
    ops = findings[0]["fix"]["patches"][0]["operations"]  # type: ignore[index]
    assert ops[-1]["path"] == "/spec/egress/-"
    assert ops[0]["op"] == "test" and ops[0]["path"] == "/spec/endpointSelector"
    assert ops[-1]["value"]["toPorts"][0]["rules"] == {"dns": [{"matchPattern": "*"}]}
    assert fixed_and_rescanned(path) == []


def test_a_baseline_deny_gets_an_allow_inserted_before_it(tmp_path: Path) -> None:
    """BANP: rules are evaluated in order, the first match decides; a pod no
    NetworkPolicy isolates falls to the BANP's Deny."""
    path = write(tmp_path, BANP)
    findings = scan(path)
    assert len(findings) == 1 and "deny-all (Deny)" in str(findings[0]["message"])
    ops = findings[0]["fix"]["patches"][0]["operations"]  # type: ignore[index]
    assert ops[-1]["path"] == "/spec/egress/0" and ops[-1]["value"]["action"] == "Allow"
    assert fixed_and_rescanned(path) == []


def test_an_anp_deny_is_found_on_the_anp(tmp_path: Path) -> None:
    path = write(tmp_path, ANP)
    findings = scan(path)
    assert len(findings) == 1
    assert findings[0]["object"]["kind"] == "AdminNetworkPolicy"  # type: ignore[index]
    assert fixed_and_rescanned(path) == []


def test_a_cilium_deny_rule_is_reported_without_a_fix(tmp_path: Path) -> None:
    """deny.rst: deny rules take precedence over every allow: a deliberate decision, so
    the finding names it and proposes nothing."""
    findings = scan(write(tmp_path, CILIUM_DENY))
    assert len(findings) == 1 and findings[0]["fix"] is None
    assert "egressDeny rule #1 denies DNS" in str(findings[0]["message"])
