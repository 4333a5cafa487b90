"""missing-dns-egress: where DNS is, what counts as allowing it, and what the fix opens."""

from __future__ import annotations

from netpol_fix.model.findings import Flow
from netpol_fix.rules.missing_dns_egress import MissingDnsEgress
from tests.rules.helpers import context, rescan

RULE = MissingDnsEgress()

PODS = """
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: shop, labels: {app: api}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: coredns-1, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec: {containers: [{name: c, ports: [{name: dns, containerPort: 53, protocol: UDP},
                                      {name: dns-tcp, containerPort: 53, protocol: TCP}]}]}
"""

DEFAULT_DENY = """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
"""


def egress(name: str, selector: str, rules: str) -> str:
    return f"""
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: {name}, namespace: shop}}
spec:
  podSelector: {selector}
  policyTypes: [Egress]
  egress:
{rules}
"""


TO_DNS = """  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}},
          podSelector: {matchLabels: {k8s-app: kube-dns}}}]
    ports: PORTS"""


def test_one_finding_for_the_policy_that_isolates_every_affected_pod() -> None:
    """web and api are isolated by the default-deny and by web's own policy: one finding,
    on the policy that selects them all, whose fix opens DNS and nothing else."""
    ctx = context(PODS + DEFAULT_DENY + egress("web", "{matchLabels: {app: web}}",
                                               "  - to: [{podSelector: {}}]"))
    [finding] = RULE.check(ctx)
    assert finding.object.name == "default-deny"
    assert finding.affected == ["shop/Pod/api", "shop/Pod/web"]
    assert "every name lookup times out" in finding.message
    fix = finding.fix
    assert fix is not None and fix.applicability == "safe"
    assert set(fix.opens) == {Flow(f"shop/Pod/{pod}", "kube-system/Pod/coredns-1", p, 53)
                              for pod in ("web", "api") for p in ("UDP", "TCP")}
    _, again = rescan(ctx, fix, RULE)
    assert again == []


def test_udp_only_is_a_partial_finding_with_its_own_message() -> None:
    rules = TO_DNS.replace("PORTS", "[{port: 53, protocol: UDP}]")
    [finding] = RULE.check(context(PODS + egress("dns", "{}", rules)))
    assert "over UDP only; TCP 53 is denied" in finding.message
    assert "large (truncated) answers fail" in finding.message
    assert finding.fix is not None
    assert {(f.protocol, f.port) for f in finding.fix.opens} == {("TCP", 53)}
    # the rule it appends adds the missing protocol only, not a second UDP entry
    [added] = [op["value"] for op in finding.fix.patches[0].operations if op["op"] == "add"]
    assert added["ports"] == [{"port": 53, "protocol": "TCP"}]
    assert "allowing TCP 53 to" in finding.fix.description


def test_tcp_only_means_ordinary_lookups_time_out() -> None:
    rules = TO_DNS.replace("PORTS", "[{port: 53, protocol: TCP}]")
    ctx = context(PODS + egress("dns", "{}", rules))
    [finding] = RULE.check(ctx)
    assert "over TCP only; UDP 53 is denied, so ordinary lookups time out" in finding.message
    assert finding.fix is not None
    [added] = [op["value"] for op in finding.fix.patches[0].operations if op["op"] == "add"]
    assert added["ports"] == [{"port": 53, "protocol": "UDP"}]
    _, again = rescan(ctx, finding.fix, RULE)
    assert again == []


def test_both_protocols_or_a_rule_without_ports_are_enough() -> None:
    both = TO_DNS.replace("PORTS", "[{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]")
    assert RULE.check(context(PODS + DEFAULT_DENY + egress("dns", "{}", both))) == []
    any_port = "  - to: [{namespaceSelector: {}}]"
    assert RULE.check(context(PODS + DEFAULT_DENY + egress("dns", "{}", any_port))) == []


def test_all_addresses_except_link_local_or_loopback_reach_dns_without_a_pod_cidr() -> None:
    """`0.0.0.0/0 except 169.254.169.254/32` (all egress but the cloud metadata endpoint)
    holds every pod address: no pod is given a link-local or loopback address. An except
    that could hold pods counts only when --pod-cidr says it does not."""
    def block(excepts: str) -> str:
        return egress("out", "{}", f"  - to: [{{ipBlock: {{cidr: 0.0.0.0/0, except: {excepts}}}}}]")
    for excepts in ("[169.254.169.254/32]", "[169.254.0.0/16, 127.0.0.0/8]"):
        assert RULE.check(context(PODS + block(excepts))) == []
    assert RULE.check(context(PODS + block("[10.0.0.0/8]")))
    assert RULE.check(context(PODS + block("[10.0.0.0/8]"), pod_cidr="192.168.0.0/16")) == []
    assert RULE.check(context(PODS + block("[169.254.0.0/15]")))  # 169.255/16 is not reserved
    assert RULE.check(context(PODS + block("[169.254.169.254/32]"), cni="cilium"))


def test_kube_dns_service_in_the_sources_gives_selector_and_target_port() -> None:
    """A Service kube-dns selecting `app: resolver` with targetPort 1053: that is where
    pods' queries go, so 53 to the resolver pods is not enough and the fix says 1053."""
    service = """
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec:
  selector: {app: resolver}
  ports: [{name: dns, port: 53, targetPort: 1053, protocol: UDP},
          {name: dns-tcp, port: 53, targetPort: 1053, protocol: TCP}]
---
apiVersion: v1
kind: Pod
metadata: {name: resolver, namespace: kube-system, labels: {app: resolver}}
spec: {containers: [{name: c}]}
"""
    to_53 = """  - to: [{namespaceSelector: {}, podSelector: {matchLabels: {app: resolver}}}]
    ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]"""
    ctx = context(PODS + service + egress("dns", "{}", to_53))
    [finding] = RULE.check(ctx)
    assert "Service kube-system/kube-dns in the sources" in finding.message
    assert finding.fix is not None
    assert "UDP and TCP 1053 to kube-system/app=resolver" in finding.fix.description
    assert {(f.destination, f.port) for f in finding.fix.opens} == {
        ("kube-system/Pod/resolver", 1053)}
    _, again = rescan(ctx, finding.fix, RULE)
    assert again == []


def test_openshift_dns_listens_on_5353() -> None:
    """On OpenShift the DNS pods are in openshift-dns and listen on 5353: a rule for 5353
    to them is right (no finding) and the fix for a default-deny names 5353."""
    openshift = """
---
apiVersion: v1
kind: Namespace
metadata: {name: openshift-apiserver}
"""
    to_5353 = """  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: openshift-dns}},
          podSelector: {matchLabels: {dns.operator.openshift.io/daemonset-dns: default}}}]
    ports: [{port: 5353, protocol: UDP}, {port: 5353, protocol: TCP}]"""
    assert RULE.check(context(PODS + openshift + egress("dns", "{}", to_5353))) == []
    [finding] = RULE.check(context(PODS + openshift + DEFAULT_DENY))
    assert "OpenShift DNS" in finding.message
    assert finding.fix is not None
    assert "UDP and TCP 5353 to openshift-dns/" in finding.fix.description


NODE_LOCAL = """
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: node-local-dns, namespace: kube-system}
spec:
  selector: {matchLabels: {k8s-app: node-local-dns}}
  template:
    metadata: {labels: {k8s-app: node-local-dns}}
    spec:
      hostNetwork: true
      containers: [{name: node-cache, args: [-localip, "169.254.20.10"]}]
"""


def test_node_local_dns_cache_needs_an_ip_block_rule() -> None:
    """With NodeLocal DNSCache pods query 169.254.20.10 on their node: a rule to the
    kube-dns pods does not reach it, an ipBlock rule for the address does."""
    to_pods = TO_DNS.replace("PORTS", "[{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]")
    ctx = context(PODS + NODE_LOCAL + egress("dns", "{}", to_pods))
    [finding] = RULE.check(ctx)
    assert "NodeLocal DNSCache at 169.254.20.10 (an ipBlock" in finding.message
    assert "DaemonSet kube-system/node-local-dns" in finding.message
    fix = finding.fix
    assert fix is not None and fix.applicability == "safe"
    added = [op["value"] for op in fix.patches[0].operations if op["op"] == "add"]
    assert added == [{"to": [
        {"ipBlock": {"cidr": "169.254.20.10/32"}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
         "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]
    # the kube-dns pods were reachable already: it opens the cache address only
    assert set(fix.opens) == {Flow(f"shop/Pod/{pod}", "169.254.20.10/32", p, 53)
                              for pod in ("web", "api") for p in ("UDP", "TCP")}
    _, again = rescan(ctx, fix, RULE)
    assert again == []
    to_cache = """  - to: [{ipBlock: {cidr: 169.254.0.0/16}}]
    ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]"""
    assert RULE.check(context(PODS + NODE_LOCAL + egress("dns", "{}", to_cache))) == []


def test_a_node_local_cache_off_the_host_network_is_not_the_cache() -> None:
    ordinary = NODE_LOCAL.replace("hostNetwork: true", "hostNetwork: false")
    to_pods = TO_DNS.replace("PORTS", "[{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]")
    assert RULE.check(context(PODS + ordinary + egress("dns", "{}", to_pods))) == []


def test_dns_settings_name_the_target() -> None:
    to_coredns = """  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: dns}},
          podSelector: {matchLabels: {app: coredns}}}]
    ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]"""
    coredns = """
---
apiVersion: v1
kind: Pod
metadata: {name: coredns, namespace: dns, labels: {app: coredns}}
spec: {containers: [{name: c}]}
"""
    text = PODS + coredns + egress("dns", "{}", to_coredns)
    assert RULE.check(context(text, dns_namespace="dns", dns_selector="app=coredns")) == []
    [finding] = RULE.check(context(text))  # the default, kube-system/k8s-app=kube-dns
    assert "--dns-namespace kube-system" in finding.message


def test_suppressed_by_annotation() -> None:
    ignored = DEFAULT_DENY.replace(
        "metadata: {name: default-deny, namespace: shop}",
        'metadata: {name: default-deny, namespace: shop, '
        'annotations: {"netpol-fix.io/ignore": "missing-dns-egress"}}')
    assert RULE.check(context(PODS + ignored)) == []
