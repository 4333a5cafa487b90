"""CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy in the NetworkPolicy tier. Each
docstring names the sentence of Cilium's policy language reference
(Documentation/security/policy/{intro,language,deny,kubernetes}.rst) it follows."""

from __future__ import annotations

import ipaddress

from netpol_fix.engine.connectivity import ConnectivityAnalysis
from netpol_fix.engine.verdict import Explainer, Query
from tests.conftest import network_from_yaml

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
metadata: {name: api, namespace: shop, labels: {app: api}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: ops, labels: {app: web}}
spec: {containers: [{name: c}]}
"""


def cnp(spec: str, name: str = "p", namespace: str = "shop",
        kind: str = "CiliumNetworkPolicy") -> str:
    ns = f", namespace: {namespace}" if kind == "CiliumNetworkPolicy" else ""
    return f"""
---
apiVersion: cilium.io/v2
kind: {kind}
metadata: {{name: {name}{ns}}}
spec:
{spec}"""


API_FROM_WEB = """  endpointSelector: {matchLabels: {app: api}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: web}}]
"""


def allowed(text: str, src: str, dst: str, protocol: str = "TCP",
            port: int | None = 8080) -> bool:
    net = network_from_yaml(PODS + text)
    s_ns, s_name = src.split("/")
    d_ns, d_name = dst.split("/")
    verdict = Explainer(net).explain_pods(net.find(s_ns, s_name)[0], net.find(d_ns, d_name)[0],
                                          Query(port, protocol))
    conns = {(c.src, c.dst): c.conns for c in ConnectivityAnalysis(net).connections(False)}
    listed = conns.get((net.endpoints[net.find(s_ns, s_name)[0]].key,
                        net.endpoints[net.find(d_ns, d_name)[0]].key))
    assert verdict.allowed == (listed is not None and listed.allows(protocol, port)), \
        "explain and connectivity disagree"
    return verdict.allowed


def test_selected_endpoint_is_default_deny_for_ingress_only() -> None:
    """intro.rst: in the default mode an endpoint is unrestricted until a rule selects it;
    then it is default-deny in that direction ("a rule with an ingress section affects
    ingress")."""
    assert allowed(cnp(API_FROM_WEB), "shop/web", "shop/api")
    assert not allowed(cnp(API_FROM_WEB), "ops/web", "shop/api")
    assert allowed(cnp(API_FROM_WEB), "shop/api", "ops/web")  # api's egress untouched


def test_peer_without_namespace_label_is_the_policys_namespace() -> None:
    """kubernetes.rst: "an endpointSelector ... without a namespace label" in fromEndpoints
    selects endpoints of the policy's namespace; `k8s:io.kubernetes.pod.namespace` another."""
    assert not allowed(cnp(API_FROM_WEB), "ops/web", "shop/api")
    other = API_FROM_WEB.replace("{app: web}", "{app: web, k8s:io.kubernetes.pod.namespace: ops}")
    assert allowed(cnp(other), "ops/web", "shop/api")
    assert not allowed(cnp(other), "shop/web", "shop/api")


def test_clusterwide_selector_spans_namespaces_and_namespace_labels() -> None:
    """A CCNP is not namespaced: its selectors match in every namespace;
    `io.cilium.k8s.namespace.labels.<key>` selects by namespace labels."""
    text = cnp(API_FROM_WEB, kind="CiliumClusterwideNetworkPolicy")
    assert allowed(text, "ops/web", "shop/api") and allowed(text, "shop/web", "shop/api")
    by_label = API_FROM_WEB.replace("{app: web}", "{io.cilium.k8s.namespace.labels.team: ops}")
    text = cnp(by_label, kind="CiliumClusterwideNetworkPolicy")
    assert allowed(text, "ops/web", "shop/api") and not allowed(text, "shop/web", "shop/api")


def test_deny_rules_beat_every_allow() -> None:
    """deny.rst: deny policies "take precedence over allow policies, regardless of whether
    they are a Cilium Network Policy, a Clusterwide Cilium Network Policy or even a
    Kubernetes Network Policy"."""
    deny = cnp("""  endpointSelector: {matchLabels: {app: api}}
  ingressDeny:
  - fromEndpoints: [{matchLabels: {app: web}}]
    toPorts: [{ports: [{port: "8080", protocol: TCP}]}]
""", name="deny")
    knp = """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: shop}
spec: {podSelector: {}, ingress: [{}]}
"""
    assert not allowed(knp + deny + cnp(API_FROM_WEB), "shop/web", "shop/api")
    assert allowed(knp + deny, "shop/web", "shop/api", port=9090)


def test_enable_default_deny_false_keeps_the_endpoint_open() -> None:
    """rule.go: `enableDefaultDeny: {ingress: false}` keeps the policy from putting the
    endpoint in default deny; its rules then only add."""
    spec = API_FROM_WEB + "  enableDefaultDeny: {ingress: false}\n"
    assert allowed(cnp(spec), "ops/web", "shop/api")


def test_an_empty_ingress_rule_isolates_and_admits_nothing() -> None:
    """language.rst's default-deny example: `ingress: [{}]` selects no peer but makes the
    endpoint default-deny for ingress."""
    assert not allowed(cnp("  endpointSelector: {}\n  ingress: [{}]\n"), "shop/web", "shop/api")


def test_entities_world_and_cluster() -> None:
    """language.rst: `world` is every address outside the cluster (as 0.0.0.0/0), never a
    pod; `cluster` holds every endpoint of the cluster."""
    world = cnp("  endpointSelector: {matchLabels: {app: web}}\n"
                "  egress: [{toEntities: [world]}]\n")
    assert not allowed(world, "shop/web", "shop/api")
    net = network_from_yaml(PODS + world)
    web = net.find("shop", "web")[0]
    verdict = Explainer(net).explain_to_address(web, ipaddress.ip_network("8.8.8.8/32"),
                                                Query(443, "TCP"))
    assert verdict.allowed
    cluster = world.replace("[world]", "[cluster]")
    assert allowed(cluster, "shop/web", "shop/api")


def test_cidr_rules_never_match_pods() -> None:
    """language.rst: CIDR rules apply to peers outside the cluster: "Only connections which
    do *not* originate from the cluster ... are subject to CIDR rules"."""
    spec = ("  endpointSelector: {matchLabels: {app: web}}\n"
            "  egress: [{toCIDRSet: [{cidr: 0.0.0.0/0, except: [10.0.0.0/8]}]}]\n")
    assert not allowed(cnp(spec), "shop/web", "shop/api")
    net = network_from_yaml(PODS + cnp(spec))
    web = net.find("shop", "web")[0]
    explainer = Explainer(net)
    assert explainer.explain_to_address(web, ipaddress.ip_network("8.8.8.8/32"),
                                        Query(53, "UDP")).allowed
    assert not explainer.explain_to_address(web, ipaddress.ip_network("10.1.2.3/32"),
                                            Query(53, "UDP")).allowed


def test_to_ports_any_ranges_and_named_ports() -> None:
    """l4.go: `protocol: ANY` (the default) is TCP, UDP and SCTP; `endPort` makes a range;
    a port name resolves on the destination's containers."""
    spec = ("  endpointSelector: {matchLabels: {app: api}}\n  ingress:\n"
            "  - toPorts: [{ports: [{port: \"8000\", endPort: 8100}]}]\n")
    assert allowed(cnp(spec), "ops/web", "shop/api", "UDP", 8050)
    assert not allowed(cnp(spec), "ops/web", "shop/api", "TCP", 8101)
    named = spec.replace('{port: "8000", endPort: 8100}', "{port: http, protocol: TCP}")
    assert allowed(cnp(named), "ops/web", "shop/api", "TCP", 8080)


def test_icmps_admit_icmp_only() -> None:
    """icmp.go: an `icmps` rule admits ICMP (here: the type is not modelled), not TCP."""
    spec = ("  endpointSelector: {matchLabels: {app: api}}\n  ingress:\n"
            "  - fromEndpoints: [{}]\n    icmps: [{fields: [{type: 8, family: IPv4}]}]\n")
    assert allowed(cnp(spec), "shop/web", "shop/api", "ICMP", None)
    assert not allowed(cnp(spec), "shop/web", "shop/api", "TCP", 8080)
