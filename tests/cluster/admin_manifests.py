"""Admin-tier objects for the cluster tests, as `kubectl get -o json` shows them (no
namespace: AdminNetworkPolicy, BaselineAdminNetworkPolicy and ClusterNetworkPolicy are
cluster-scoped), written the way the network-policy-api docs write them."""

from __future__ import annotations

from typing import Any

V1ALPHA1 = "policy.networking.k8s.io/v1alpha1"
V1ALPHA2 = "policy.networking.k8s.io/v1alpha2"
SHOP = {"kubernetes.io/metadata.name": "shop"}

CLIENT_TO_WEB = {
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "web-from-client", "namespace": "shop"},
    "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
             "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                          "ports": [{"protocol": "TCP", "port": 8080}]}]},
}
"""The namespace owner's allow that the ANP below overrides."""


def anp_deny_client_to_web(name: str = "no-client-to-web") -> dict[str, Any]:
    """An ANP Deny from the client pods to web: "AdminNetworkPolicy Deny rules ... cannot be
    overridden" by a NetworkPolicy allow."""
    return {
        "apiVersion": V1ALPHA1, "kind": "AdminNetworkPolicy",
        "metadata": {"name": name, "generation": 1},
        "spec": {"priority": 10,
                 "subject": {"pods": {"namespaceSelector": {"matchLabels": SHOP},
                                      "podSelector": {"matchLabels": {"app": "web"}}}},
                 "ingress": [{"name": "deny-client", "action": "Deny",
                              "from": [{"pods": {"namespaceSelector": {},
                                                 "podSelector": {"matchLabels":
                                                                 {"app": "client"}}}}]}]},
    }


def banp_default_deny_egress() -> dict[str, Any]:
    """The baseline: shop's pods may reach nothing no NetworkPolicy allows, DNS included."""
    return {
        "apiVersion": V1ALPHA1, "kind": "BaselineAdminNetworkPolicy",
        "metadata": {"name": "default", "generation": 1},
        "spec": {"subject": {"namespaces": {"matchLabels": SHOP}},
                 "egress": [{"name": "default-deny", "action": "Deny",
                             "to": [{"namespaces": {}}]}]},
    }


def cluster_network_policy_deny_egress() -> dict[str, Any]:
    """v1alpha2 in its Baseline tier: the same default deny of shop's egress."""
    return {
        "apiVersion": V1ALPHA2, "kind": "ClusterNetworkPolicy",
        "metadata": {"name": "shop-baseline", "generation": 1},
        "spec": {"tier": "Baseline", "priority": 10,
                 "subject": {"namespaces": {"matchLabels": SHOP}},
                 "egress": [{"name": "default-deny", "action": "Deny",
                             "to": [{"namespaces": {}}]}]},
    }
