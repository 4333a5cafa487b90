"""Kubernetes NetworkPolicy semantics, each with a case that a naive reading gets wrong.

Every query goes through both the single-connection explainer and the all-pairs
connectivity engine, and the two must agree.
"""

from __future__ import annotations

import textwrap

import pytest

from netpol_fix.engine.connectivity import ConnectivityAnalysis
from netpol_fix.engine.network import Network
from netpol_fix.engine.verdict import Explainer, Query
from netpol_fix.inventory.policies import PolicyError, parse_network_policy
from netpol_fix.model.connset import ConnSet
from tests.conftest import inventory_from_yaml

PODS = """
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: v1
kind: Namespace
metadata: {name: ops, labels: {team: ops}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web, tier: front}}
spec:
  containers:
  - name: c
    ports:
    - {name: http, containerPort: 8080}
    - {name: dns, containerPort: 5353, protocol: UDP}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: shop, labels: {app: api}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: probe, namespace: ops, labels: {app: web}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: nolabel, namespace: ops}
spec: {containers: [{name: c}]}
"""


def net(policies: str, pods: str = PODS, **kwargs: object) -> Network:
    return Network(inventory_from_yaml(pods + "\n---\n" + textwrap.dedent(policies)), **kwargs)  # type: ignore[arg-type]


def conns(network: Network, src: str, dst: str) -> ConnSet:
    """Allowed connections src -> dst; checks the explainer and connectivity agree."""
    ns, name = src.split("/")
    s = network.find(ns, name)[0]
    ns, name = dst.split("/")
    d = network.find(ns, name)[0]
    verdict = Explainer(network).explain_pods(s, d, Query())
    pairs = {(c.src, c.dst): c.conns for c in ConnectivityAnalysis(network).connections()}
    from_engine = pairs.get((network.endpoints[s].key, network.endpoints[d].key), ConnSet.none())
    assert verdict.conns.describe() == from_engine.describe() or (
        not verdict.conns and not from_engine)
    return from_engine


def allowed(network: Network, src: str, dst: str, port: int | str, protocol: str = "TCP") -> bool:
    ns, name = src.split("/")
    s = network.find(ns, name)[0]
    ns, name = dst.split("/")
    d = network.find(ns, name)[0]
    verdict = Explainer(network).explain_pods(s, d, Query(port, protocol))
    if isinstance(port, int):
        assert verdict.allowed == conns(network, src, dst).allows(protocol, port)
    return verdict.allowed


DENY_ALL_SHOP = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec:
  podSelector: {}
"""


def test_no_policy_allows_everything() -> None:
    n = net("")
    assert conns(n, "ops/probe", "shop/web").is_all


def test_empty_pod_selector_isolates_all_pods_of_its_namespace_only() -> None:
    n = net(DENY_ALL_SHOP)
    assert not conns(n, "ops/probe", "shop/web")
    assert not conns(n, "shop/api", "shop/web")
    assert conns(n, "shop/web", "ops/probe").is_all  # egress not isolated, ops not isolated


def test_omitted_policy_types_with_egress_rules_also_isolates_ingress() -> None:
    n = net("""
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: egress-only, namespace: shop}
    spec:
      podSelector: {matchLabels: {app: web}}
      egress:
      - to: [{podSelector: {matchLabels: {app: api}}}]
    """)
    # The author meant an egress policy; the API defaults policyTypes to [Ingress, Egress].
    assert not conns(n, "shop/api", "shop/web")
    assert conns(n, "shop/web", "shop/api").is_all
    assert not conns(n, "shop/web", "ops/probe")


def test_empty_egress_list_does_not_make_policy_egress_isolating() -> None:
    n = net("""
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: p, namespace: shop}
    spec:
      podSelector: {matchLabels: {app: web}}
      egress: []
    """)
    assert n.inventory.policies[0].policy_types == ("Ingress",)
    assert conns(n, "shop/web", "ops/probe").is_all


def test_explicit_policy_types_ignores_rules_of_the_other_direction() -> None:
    n = net("""
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: p, namespace: shop}
    spec:
      podSelector: {matchLabels: {app: web}}
      policyTypes: [Ingress]
      ingress: [{}]
      egress:
      - to: [{podSelector: {matchLabels: {app: api}}}]
    """)
    assert conns(n, "shop/web", "ops/probe").is_all  # egress rules are ignored


def test_ingress_list_with_empty_rule_allows_all_but_empty_list_denies() -> None:
    allow_all = net("""
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: p, namespace: shop}
    spec:
      podSelector: {}
      ingress: [{}]
    """)
    assert conns(allow_all, "ops/probe", "shop/web").is_all
    deny = net("""
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: p, namespace: shop}
    spec:
      podSelector: {}
      ingress: []
    """)
    assert not conns(deny, "ops/probe", "shop/web")


def test_policies_are_additive_allow_wins_over_deny_all() -> None:
    n = net(DENY_ALL_SHOP + """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{}]
""")
    assert conns(n, "ops/probe", "shop/web").is_all
    assert not conns(n, "ops/probe", "shop/api")


def test_pod_selector_peer_only_matches_the_policys_own_namespace() -> None:
    n = net(DENY_ALL_SHOP + """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-web, namespace: shop}
spec:
  podSelector: {}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
""")
    assert conns(n, "shop/web", "shop/api").is_all
    # ops/probe carries app=web too, but lives in another namespace
    assert not conns(n, "ops/probe", "shop/api")
    verdict = Explainer(n).explain_pods(n.find("ops", "probe")[0], n.find("shop", "api")[0], Query())
    assert "policy's own namespace" in verdict.ingress.checks[-1].reason


def test_namespace_and_pod_selector_in_one_peer_is_and_in_two_peers_is_or() -> None:
    and_peer = net(DENY_ALL_SHOP + """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow, namespace: shop}
spec:
  podSelector: {}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: ops}}
      podSelector: {matchLabels: {app: web}}
""")
    assert conns(and_peer, "ops/probe", "shop/api")
    assert not conns(and_peer, "ops/nolabel", "shop/api")
    or_peers = net(DENY_ALL_SHOP + """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow, namespace: shop}
spec:
  podSelector: {}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: ops}}
    - podSelector: {matchLabels: {app: web}}
""")
    assert conns(or_peers, "ops/nolabel", "shop/api")
    assert conns(or_peers, "shop/web", "shop/api")


def test_namespace_selector_on_undeclared_namespace_uses_only_the_automatic_label() -> None:
    pods = PODS + """
---
apiVersion: v1
kind: Pod
metadata: {name: mon, namespace: monitoring, labels: {app: prom}}
spec: {containers: [{name: c}]}
"""
    n = net(DENY_ALL_SHOP + """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow, namespace: shop}
spec:
  podSelector: {}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {name: monitoring}}
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}
    ports: [{port: 9090}]
""", pods=pods)
    assert conns(n, "monitoring/mon", "shop/web").describe() == "TCP 9090"
    verdict = Explainer(n).explain_pods(n.find("monitoring", "mon")[0], n.find("shop", "web")[0],
                                        Query(8080))
    assert not verdict.allowed
    reason = verdict.ingress.checks[1].reason
    assert "matches no namespace" in reason and "kubernetes.io/metadata.name=monitoring" in reason


def test_match_expressions_notin_and_doesnotexist_match_pods_without_the_key() -> None:
    n = net(DENY_ALL_SHOP + """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow, namespace: shop}
spec:
  podSelector: {}
  ingress:
  - from:
    - namespaceSelector: {}
      podSelector:
        matchExpressions:
        - {key: app, operator: NotIn, values: [web]}
  - from:
    - namespaceSelector: {}
      podSelector:
        matchExpressions:
        - {key: tier, operator: DoesNotExist}
        - {key: app, operator: Exists}
    ports: [{port: 7000}]
""")
    assert conns(n, "ops/nolabel", "shop/web").is_all  # no app label: NotIn matches
    assert not conns(n, "ops/probe", "shop/api") or conns(n, "ops/probe", "shop/api").describe() == "TCP 7000"
    assert conns(n, "ops/probe", "shop/api").describe() == "TCP 7000"


def test_named_port_resolves_on_the_destination_with_its_protocol() -> None:
    n = net(DENY_ALL_SHOP + """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow, namespace: shop}
spec:
  podSelector: {}
  ingress:
  - ports:
    - port: http
    - port: dns
      protocol: UDP
    - port: dns
""")
    # web has http=8080/TCP and dns=5353/UDP; `dns` with default TCP matches nothing
    assert conns(n, "ops/probe", "shop/web").describe() == "TCP 8080,UDP 5353"
    assert not conns(n, "ops/probe", "shop/api")  # api defines no named ports
    assert allowed(n, "ops/probe", "shop/web", "http")
    assert not allowed(n, "ops/probe", "shop/web", 5353)


def test_end_port_and_default_protocol_tcp() -> None:
    n = net(DENY_ALL_SHOP + """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow, namespace: shop}
spec:
  podSelector: {}
  ingress:
  - ports:
    - {port: 32000, endPort: 32768}
    - {protocol: SCTP}
""")
    c = conns(n, "ops/probe", "shop/web")
    assert c.describe() == "SCTP 1-65535,TCP 32000-32768"
    assert allowed(n, "ops/probe", "shop/web", 32768)
    assert not allowed(n, "ops/probe", "shop/web", 32769)
    assert not allowed(n, "ops/probe", "shop/web", 32000, "UDP")


def test_connection_needs_egress_of_source_and_ingress_of_destination() -> None:
    n = net("""
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: ingress-allows, namespace: shop}
    spec:
      podSelector: {matchLabels: {app: web}}
      policyTypes: [Ingress]
      ingress: [{from: [{namespaceSelector: {}}]}]
    ---
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: ops-egress, namespace: ops}
    spec:
      podSelector: {}
      policyTypes: [Egress]
      egress:
      - to: [{namespaceSelector: {matchLabels: {team: ops}}}]
    """)
    verdict = Explainer(n).explain_pods(n.find("ops", "probe")[0], n.find("shop", "web")[0],
                                        Query(8080))
    assert verdict.ingress.allowed and not verdict.egress.allowed
    assert not verdict.allowed
    assert "one-sided-allow" in verdict.causes
    assert not conns(n, "ops/probe", "shop/web")


def test_ip_block_with_except_and_ipv6() -> None:
    n = net("""
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: egress, namespace: shop}
    spec:
      podSelector: {matchLabels: {app: web}}
      policyTypes: [Egress]
      egress:
      - to:
        - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
        - ipBlock: {cidr: "2001:db8::/32"}
        ports: [{port: 443}]
    """)
    ex = Explainer(n)
    web = n.find("shop", "web")[0]
    import ipaddress
    assert ex.explain_to_address(web, ipaddress.ip_network("10.2.3.4/32"), Query(443)).allowed
    denied = ex.explain_to_address(web, ipaddress.ip_network("10.1.2.3/32"), Query(443))
    assert not denied.allowed and "except 10.1.0.0/16" in denied.egress.checks[0].reason
    assert ex.explain_to_address(web, ipaddress.ip_network("2001:db8::1/128"), Query(443)).allowed
    assert not ex.explain_to_address(web, ipaddress.ip_network("10.2.3.4/32"), Query(80)).allowed
    # a whole CIDR is allowed only if all of it is
    assert not ex.explain_to_address(web, ipaddress.ip_network("10.0.0.0/8"), Query(443)).allowed
    # an ipBlock never matches a pod
    assert not conns(n, "shop/web", "shop/api")


def test_host_network_pods_are_not_governed() -> None:
    pods = PODS + """
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: exporter, namespace: shop}
spec:
  template:
    metadata: {labels: {app: exporter}}
    spec: {hostNetwork: true, containers: [{name: c}]}
"""
    n = net(DENY_ALL_SHOP + """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-exporter, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: exporter}}}]}]
""", pods=pods)
    # the default-deny selects every pod of shop but cannot isolate the hostNetwork exporter
    assert conns(n, "ops/probe", "shop/exporter").is_all
    # and a podSelector does not match the exporter's traffic, which leaves with the node's IP
    assert not conns(n, "shop/exporter", "shop/web")
    verdict = Explainer(n).explain_pods(n.find("shop", "exporter")[0], n.find("shop", "web")[0],
                                        Query())
    assert any("hostNetwork" in note for note in verdict.notes)
    compat = net(DENY_ALL_SHOP, pods=pods, host_network_as_pods=True)
    assert not conns(compat, "ops/probe", "shop/exporter")


def test_null_pod_selector_is_the_empty_selector() -> None:
    n = net("""
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: deny, namespace: shop}
    spec:
      podSelector:
    """)
    assert not conns(n, "ops/probe", "shop/web")


@pytest.mark.parametrize("spec, message", [
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["b"]}]}},
     "unknown selector operator"),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": "http", "endPort": 90}]}]},
     "endPort cannot be set when port is a named"),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "A"}}]}]}, "invalid CIDR"),
    ({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/16",
                                                         "except": ["10.1.0.0/24"]}}]}]},
     "strict subset"),
    ({"podSelector": {}, "ingress": [{"from": [{}]}]}, "empty peer"),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"},
                                                "podSelector": {}}]}]}, "both ipBlock"),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": 10, "endPort": 1}]}]}, "port range 10-1"),
    ({"podSelector": {"matchLabels": {"app@b": "x"}}}, "label key"),
    ({"podSelector": {}, "ingress": [{"ports": [{"protocol": "ICMP"}]}]}, "not supported"),
    ({"podSelector": {}, "policyTypes": ["Ingress", "Sideways"]}, "is not Ingress or Egress"),
])
def test_invalid_policies_are_rejected_like_the_api_server(spec: dict, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_network_policy({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                              "metadata": {"name": "p"}, "spec": spec})


def test_host_bits_in_cidr_are_accepted() -> None:
    policy = parse_network_policy({"metadata": {"name": "p"}, "spec": {"podSelector": {},
        "ingress": [{"from": [{"ipBlock": {"cidr": "192.168.242.213/24"}}]}]}})
    block = policy.ingress[0].peers[0].ip_block
    assert block is not None and str(block.cidr) == "192.168.242.0/24"


def test_find_cluster_pods_by_their_deployment_name() -> None:
    pods = """
apiVersion: v1
kind: Pod
metadata:
  name: web-7c9f8d-abcde
  namespace: shop
  labels: {app: web, pod-template-hash: 7c9f8d}
  ownerReferences: [{kind: ReplicaSet, name: web-7c9f8d, controller: true}]
spec: {containers: [{name: c}]}
"""
    n = net("", pods=pods)
    assert n.find("shop", "web") == n.find("shop", "web-7c9f8d") != []
    assert n.find("shop", "we") == []
