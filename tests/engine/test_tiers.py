"""The tier order of AdminNetworkPolicy, NetworkPolicy and BaselineAdminNetworkPolicy.

Each test's docstring quotes the sentence of the API reference
(kubernetes-sigs/network-policy-api apis/v1alpha1, v1alpha2) it follows.
"""

from __future__ import annotations

from netpol_fix.engine.connectivity import ConnectivityAnalysis
from netpol_fix.model.connset import ConnSet
from tests.conftest import network_from_yaml

PODS = """
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: v1
kind: Namespace
metadata: {name: mon, labels: {team: mon}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: prom, namespace: mon, labels: {app: prom}}
spec: {containers: [{name: c}]}
"""

DENY_ALL_NP = """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
"""

ALLOW_NP = """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-mon, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress: [{from: [{namespaceSelector: {matchLabels: {team: mon}}}]}]
"""


def anp(name: str, priority: int, action: str, ports: str = "") -> str:
    return f"""
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {{name: {name}}}
spec:
  priority: {priority}
  subject: {{namespaces: {{matchLabels: {{team: shop}}}}}}
  ingress:
  - name: {name}-rule
    action: {action}
    from: [{{namespaces: {{matchLabels: {{team: mon}}}}}}]
{ports}"""


BANP_DENY = """
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  ingress:
  - {name: deny-all, action: Deny, from: [{namespaces: {}}]}
"""


def conns(text: str) -> ConnSet:
    net = network_from_yaml(PODS + text)
    src = net.find("mon", "prom")[0]
    dst = net.find("shop", "web")[0]
    return net.ingress_conns(src, dst)


def listed(text: str) -> dict[tuple[str, str], str]:
    net = network_from_yaml(PODS + text)
    return {(c.src, c.dst): c.conns.describe()
            for c in ConnectivityAnalysis(net).connections(include_external=False)}


def test_anp_allow_overrides_a_networkpolicy_deny() -> None:
    """Allow: "allows the selected traffic (even if it would otherwise have been denied by
    NetworkPolicy)"."""
    assert not conns(DENY_ALL_NP)
    assert conns(DENY_ALL_NP + anp("allow-mon", 10, "Allow")).is_all


def test_anp_deny_cannot_be_overridden_by_a_networkpolicy_allow() -> None:
    """Deny: "Denies the selected traffic. This action cannot be overridden by
    NetworkPolicy"; the namespace owner's allow never takes effect."""
    assert conns(ALLOW_NP).is_all
    assert not conns(ALLOW_NP + anp("deny-mon", 10, "Deny"))


def test_pass_hands_the_decision_to_the_networkpolicy_tier() -> None:
    """Pass: "skip any remaining ANP rules, and pass execution to any NetworkPolicies that
    select the pod"."""
    assert not conns(DENY_ALL_NP + anp("pass-mon", 10, "Pass"))
    assert conns(ALLOW_NP + anp("pass-mon", 10, "Pass")).is_all


def test_pass_to_an_unselected_pod_reaches_the_baseline() -> None:
    """Pass: "If the pod is not selected by any NetworkPolicies then execution is passed to
    any BaselineAdminNetworkPolicies that select the pod"."""
    assert not conns(anp("pass-mon", 10, "Pass") + BANP_DENY)
    assert conns(anp("pass-mon", 10, "Pass")).is_all


def test_a_networkpolicy_decides_before_the_baseline() -> None:
    """BANP: rules "are lower precedence than NetworkPolicy rules": a pod a NetworkPolicy
    selects never reaches the BANP."""
    assert conns(ALLOW_NP + BANP_DENY).is_all
    assert not conns(BANP_DENY)


def test_lower_priority_number_is_evaluated_first() -> None:
    """priority: "The lowest value has the highest precedence" (0-1000)."""
    assert conns(anp("a-allow", 5, "Allow") + anp("b-deny", 9, "Deny")).is_all
    assert not conns(anp("a-allow", 9, "Allow") + anp("b-deny", 5, "Deny"))


def test_ports_split_a_connection_between_tiers() -> None:
    """A rule matches only its ports; the rest of the traffic goes on to the next rule or
    tier (netpol-analyzer's anp_test_3_pass_traffic: Pass on 8080 above a NetworkPolicy)."""
    ports = "    ports: [{portNumber: {protocol: TCP, port: 8080}}]\n"
    got = conns(anp("deny-8080", 10, "Deny", ports))
    assert got.describe() != "All Connections"
    assert not got.allows("TCP", 8080) and got.allows("TCP", 80) and got.allows("UDP", 53)


def test_named_port_resolves_on_the_destination_pod() -> None:
    """namedPort: "selects a port on a pod(s) based on name"."""
    ports = "    ports: [{namedPort: http}]\n"
    got = conns(DENY_ALL_NP + anp("allow-http", 10, "Allow", ports))
    assert got.describe() == "TCP 8080"


def test_connectivity_lists_the_tiered_result() -> None:
    """connectivity goes through the tiers: the ANP Deny removes the pair."""
    assert ("mon/prom[Pod]", "shop/web[Pod]") in listed(ALLOW_NP)
    assert ("mon/prom[Pod]", "shop/web[Pod]") not in listed(ALLOW_NP + anp("d", 1, "Deny"))


def test_without_admin_policies_the_networkpolicy_engine_alone_decides() -> None:
    """No admin policy: no tier object, the NetworkPolicy-only path at no extra cost."""
    assert network_from_yaml(PODS + ALLOW_NP).tiers is None
    assert network_from_yaml(PODS + ALLOW_NP + BANP_DENY).tiers is not None


def cnp_v2(name: str, tier: str, priority: int, action: str) -> str:
    return f"""
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {{name: {name}}}
spec:
  tier: {tier}
  priority: {priority}
  subject: {{namespaces: {{matchLabels: {{team: shop}}}}}}
  ingress:
  - name: {name}-rule
    action: {action}
    from: [{{namespaces: {{matchLabels: {{team: mon}}}}}}]
"""


def test_cluster_network_policy_tiers() -> None:
    """v1alpha2: "Admin: a final decision stops evaluation"; Pass "skips rules with lower
    precedence in the current tier and continues processing in the next tier"; the
    Baseline tier is reached only by pods no NetworkPolicy selects."""
    assert conns(DENY_ALL_NP + cnp_v2("a", "Admin", 3, "Accept")).is_all
    assert not conns(ALLOW_NP + cnp_v2("a", "Admin", 3, "Deny"))
    assert conns(ALLOW_NP + cnp_v2("a", "Admin", 3, "Pass") + cnp_v2("b", "Admin", 4, "Deny")
                 ).is_all
    assert not conns(cnp_v2("b", "Baseline", 1, "Deny"))
    assert conns(ALLOW_NP + cnp_v2("b", "Baseline", 1, "Deny")).is_all
    assert conns(cnp_v2("b", "Baseline", 1, "Accept") + cnp_v2("c", "Baseline", 2, "Deny")
                 ).is_all


def test_admin_policies_are_not_enforced_by_cnis_that_do_not_implement_them() -> None:
    """network-policy-api site-src/implementations.md: Cilium has only a tracking issue
    (cilium/cilium#23380); Calico implements ANP/BANP since 3.29. CiliumNetworkPolicies
    are enforced only by Cilium."""
    from netpol_fix.engine.cni import cni_model

    text = PODS + ALLOW_NP + anp("deny-mon", 10, "Deny")
    for name, enforced in (("cilium", False), ("calico", True), ("unknown", True)):
        net = network_from_yaml(text, cni=cni_model(name))
        src, dst = net.find("mon", "prom")[0], net.find("shop", "web")[0]
        assert bool(net.ingress_conns(src, dst)) is not enforced, name
    cnp = PODS + """
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: deny, namespace: shop}
spec:
  endpointSelector: {}
  ingress: [{}]
"""
    for name, enforced in (("cilium", True), ("calico", False), ("unknown", True)):
        net = network_from_yaml(cnp, cni=cni_model(name))
        src, dst = net.find("mon", "prom")[0], net.find("shop", "web")[0]
        assert bool(net.ingress_conns(src, dst)) is not enforced, name
