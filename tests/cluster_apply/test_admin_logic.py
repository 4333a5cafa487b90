"""The judgement before writing an admin policy: an Allow inserted first (rules are ordered)
is present only where it was inserted; a BaselineAdminNetworkPolicy is created only as
`default`; the admin kinds are written through the custom objects API."""

from __future__ import annotations

from typing import Any

from netpol_fix.cluster.apply import already_present
from netpol_fix.cluster.objects import CUSTOM_KINDS, create_refusal

ALLOW_DNS = {"name": "allow-dns", "action": "Allow",
             "to": [{"pods": {"namespaceSelector": {"matchLabels": {
                 "kubernetes.io/metadata.name": "kube-system"}},
                 "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}}],
             "ports": [{"portNumber": {"protocol": "UDP", "port": 53}},
                       {"portNumber": {"protocol": "TCP", "port": 53}}]}
DENY_ALL = {"name": "default-deny", "action": "Deny", "to": [{"namespaces": {}}]}
INSERT = [{"op": "add", "path": "/spec/egress/0", "value": ALLOW_DNS}]


def banp(*egress: dict[str, Any], name: str = "default") -> dict[str, Any]:
    return {"apiVersion": "policy.networking.k8s.io/v1alpha1",
            "kind": "BaselineAdminNetworkPolicy",
            "metadata": {"name": name, "resourceVersion": "9"},
            "spec": {"subject": {"namespaces": {}}, "egress": list(egress)}}


def test_an_insert_is_present_when_the_value_is_at_that_index() -> None:
    """A rerun after the fix: the Allow is first, so nothing is sent again (applying the
    insert would put a second allow-dns before it)."""
    assert already_present(INSERT, banp(ALLOW_DNS, DENY_ALL))


def test_an_insert_is_not_present_elsewhere_or_absent() -> None:
    """ "Rules are evaluated in order ... the first rule that matches decides": an Allow
    after the Deny admits nothing, so only the inserted position counts."""
    assert not already_present(INSERT, banp(DENY_ALL))
    assert not already_present(INSERT, banp(DENY_ALL, ALLOW_DNS))
    assert not already_present(INSERT, banp())


def test_a_baseline_policy_is_created_only_as_default() -> None:
    """The BANP CRD: "Only one baseline admin network policy with metadata.name="default"
    can be created in the cluster" (rule `self.metadata.name == 'default'`)."""
    assert create_refusal(banp(DENY_ALL)) is None
    refusal = create_refusal(banp(DENY_ALL, name="shop-baseline"))
    assert refusal is not None and "must be named 'default'" in refusal


def test_the_admin_kinds_are_cluster_scoped_custom_kinds() -> None:
    for api_version, kind, plural in (
            ("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy", "adminnetworkpolicies"),
            ("policy.networking.k8s.io/v1alpha1", "BaselineAdminNetworkPolicy",
             "baselineadminnetworkpolicies"),
            ("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy",
             "clusternetworkpolicies")):
        custom = CUSTOM_KINDS[(api_version, kind)]
        assert (f"{custom.group}/{custom.version}", custom.plural, custom.namespaced) == (
            api_version, plural, False)
