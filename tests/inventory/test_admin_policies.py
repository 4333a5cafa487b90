"""AdminNetworkPolicy / BaselineAdminNetworkPolicy / ClusterNetworkPolicy validation, as
their CRD schemas in tests/corpus/network-policy-api/ say (config/crd/*): what the API
server rejects is an error with file:line and the object is skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from netpol_fix.inventory.load import load_inventory
from netpol_fix.model.admin_policy import ALLOW, BASELINE_TIER
from tests.corpus_path import corpus_path

CRDS = corpus_path("network-policy-api")

ANP = """\
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata:
  name: sample
spec:
  priority: {priority}
  subject:
    namespaces: {{}}
  ingress:
  - name: rule-one
    action: {action}
    from:
    - namespaces: {{}}
"""


def load(tmp_path: Path, text: str) -> tuple[list[str], list[object]]:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    inventory = load_inventory([str(path)])
    return ([f"{e.severity}:{e.line}: {e.message}" for e in inventory.errors],
            list(inventory.admin_policies))


def test_priority_out_of_range_is_an_error_at_its_line(tmp_path: Path) -> None:
    """CRD: `priority` has `maximum: 1000`, `minimum: 0`."""
    errors, policies = load(tmp_path, ANP.format(priority=1001, action="Allow"))
    assert policies == []
    assert len(errors) == 1 and errors[0].startswith("error:6: ")
    assert "priority 1001 is out of range" in errors[0]
    assert "maximum: 1000" in (CRDS / "release-0.1/config/crd/standard/"
                               "policy.networking.k8s.io_adminnetworkpolicies.yaml").read_text()


def test_unknown_action_is_an_error_at_its_line(tmp_path: Path) -> None:
    """CRD: `action` is an enum of Allow, Deny, Pass."""
    errors, policies = load(tmp_path, ANP.format(priority=5, action="Ok"))
    assert policies == [] and errors[0].startswith("error:11: ")
    assert "unrecognized action 'Ok'" in errors[0]


def test_more_than_100_rules_is_an_error(tmp_path: Path) -> None:
    """CRD: ingress `maxItems: 100`."""
    rule = "  - {name: r, action: Allow, from: [{namespaces: {}}]}\n"
    text = ANP.format(priority=5, action="Allow") + rule * 100
    errors, policies = load(tmp_path, text)
    assert policies == [] and "ingress has 101 rules; at most 100" in errors[0]


def test_baseline_must_be_named_default_and_has_no_pass(tmp_path: Path) -> None:
    """CRD: `self.metadata.name == 'default'`; BANP actions are Allow and Deny only."""
    banp = ("apiVersion: policy.networking.k8s.io/v1alpha1\nkind: BaselineAdminNetworkPolicy\n"
            "metadata:\n  name: {name}\nspec:\n  subject: {{namespaces: {{}}}}\n"
            "  egress:\n  - {{name: x, action: {action}, to: [{{namespaces: {{}}}}]}}\n")
    errors, _ = load(tmp_path, banp.format(name="mine", action="Deny"))
    assert "must be named 'default'" in errors[0] and errors[0].startswith("error:4: ")
    errors, _ = load(tmp_path, banp.format(name="default", action="Pass"))
    assert "unrecognized action 'Pass'" in errors[0]
    errors, policies = load(tmp_path, banp.format(name="default", action="Deny"))
    assert errors == [] and policies[0].tier == BASELINE_TIER  # type: ignore[attr-defined]


def test_subject_needs_exactly_one_field(tmp_path: Path) -> None:
    """CRD: subject `maxProperties: 1`, `minProperties: 1`."""
    text = ANP.format(priority=5, action="Allow").replace(
        "    namespaces: {}\n  ingress", "    namespaces: {}\n    pods: {namespaceSelector: {}, "
        "podSelector: {}}\n  ingress")
    errors, policies = load(tmp_path, text)
    assert policies == [] and "exactly one field must be set in a subject" in errors[0]


def test_same_priority_is_an_error_but_both_are_analysed(tmp_path: Path) -> None:
    """Priority: "If two (or more) policies with the same priority could both match a
    connection, then the implementation can evaluate any of the policies"."""
    text = ANP.format(priority=5, action="Allow") + "---\n" + ANP.format(
        priority=5, action="Deny").replace("name: sample", "name: other")
    errors, policies = load(tmp_path, text)
    assert len(policies) == 2 and "both have priority 5" in errors[0]


def test_pods_without_pod_selector_is_an_error_and_read_as_all_pods(tmp_path: Path) -> None:
    """CRD: `pods` requires `namespaceSelector` and `podSelector`. Reported as an error
    (exit 2), and analysed with the missing selector empty as netpol-analyzer reads it."""
    text = ANP.format(priority=5, action="Allow").replace(
        "    - namespaces: {}", "    - pods:\n        namespaceSelector: {}")
    errors, policies = load(tmp_path, text)
    assert len(policies) == 1 and "pods.podSelector is required" in errors[0]
    assert errors[0].startswith("error:13: ")


def test_nodes_peer_is_a_warning_that_addresses_are_unknown(tmp_path: Path) -> None:
    """Nodes "selects the nodeIPs ... in the node.Status.Addresses field": manifests do not
    hold them, so the verdict says so instead of guessing."""
    text = ANP.format(priority=5, action="Allow").replace("ingress:", "egress:").replace(
        "from:\n    - namespaces: {}", "to:\n    - nodes: {matchLabels: {role: infra}}")
    errors, policies = load(tmp_path, text)
    assert len(policies) == 1
    assert errors[0].startswith("warning:") and "node addresses are not known" in errors[0]


def test_cluster_network_policy_v1alpha2_accept_is_allow(tmp_path: Path) -> None:
    """v1alpha2: `action` Accept | Deny | Pass; `tier` Admin | Baseline; `protocols`."""
    text = """\
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: allow-dns}
spec:
  tier: Admin
  priority: 3
  subject: {namespaces: {}}
  egress:
  - name: dns
    action: Accept
    to: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}]
    protocols: [{udp: {destinationPort: {number: 53}}}, {tcp: {destinationPort: {range: {start: 53, end: 54}}}}]
"""
    errors, policies = load(tmp_path, text)
    assert errors == []
    rule = policies[0].egress[0]  # type: ignore[attr-defined]
    assert rule.action == ALLOW and rule.conns_for(()).describe() == "TCP 53-54,UDP 53"
    errors, policies = load(tmp_path, text.replace("tier: Admin", "tier: Top"))
    assert policies == [] and "tier 'Top'" in errors[0]


def _manifests(branch: str) -> list[str]:
    """The conformance manifests, without the Go templates the suite renders first."""
    return sorted(str(p) for p in (CRDS / branch / "conformance").rglob("*.yaml")
                  if "{{" not in p.read_text())


@pytest.mark.parametrize("path", _manifests("release-0.1") + _manifests("main"))
def test_upstream_conformance_manifests_are_valid(path: str) -> None:
    """Every v1alpha1 and v1alpha2 conformance manifest of network-policy-api (applied one
    file at a time by the suite) parses without error."""
    inventory = load_inventory([path])
    assert [str(e) for e in inventory.errors if e.severity == "error"] == []
    assert inventory.admin_policies or "manifests" in path or "/main/" in path


def test_both_api_versions_are_read() -> None:
    kinds = {p.kind for path in _manifests("release-0.1") + _manifests("main")
             for p in load_inventory([path]).admin_policies}
    assert kinds == {"AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy"}
