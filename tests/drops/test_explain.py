"""Groups of drops against the sources, scenario by scenario, through the CLI's JSON:
each explained group names the rule, the policy isolating the denying side (file:line)
and a fix; a drop the sources allow is not explained; counts are exact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from netpol_fix.cli import main
from tests.drops.helpers import endpoint, hubble

SHOP = """\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
  namespace: shop
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: api-ingress
  namespace: shop
spec:
  podSelector:
    matchLabels:
      app: api
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector:
        matchLabels:
          app: web
    ports:
    - port: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: api
        image: nginx
        ports: [{containerPort: 8080}]
"""

WEB = endpoint("shop", "web-7c9f8d6b5-abcde", {"app": "web"}, identity=1001)
API = endpoint("shop", "api-6d8f7c9b4-xyz12", {"app": "api"}, identity=1002)
DNS = endpoint("kube-system", "coredns-558bd4d5db-w2m67", {"k8s-app": "kube-dns"},
               identity=1003)


def run(tmp_path: Path, sources: str, lines: list[str], *args: str) -> tuple[int, Any, str]:
    (tmp_path / "repo").mkdir(exist_ok=True)
    (tmp_path / "repo" / "policies.yaml").write_text(sources)
    (tmp_path / "flows.json").write_text("".join(line + "\n" for line in lines))
    result = CliRunner().invoke(main, ["drops", str(tmp_path / "repo"), "--flows",
                                       str(tmp_path / "flows.json"), "--format", "json",
                                       *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, json.loads(result.stdout), result.stderr


def times(n: int, **kwargs: Any) -> list[str]:
    return [hubble(time=f"2026-03-01T10:00:{i:02d}.5Z", **kwargs) for i in range(n)]


def test_dns_drops_to_the_cluster_dns_are_missing_dns_egress(tmp_path: Path) -> None:
    code, data, _ = run(tmp_path, SHOP, times(5, src=WEB, dst=DNS, port=53, protocol="UDP"))
    assert code == 1
    [drop] = data["drops"]
    assert drop["source"] == "shop/web[Deployment]"
    assert drop["destination"] == "kube-system/coredns[Deployment]"
    assert (drop["protocol"], drop["port"], drop["direction"], drop["count"]) == (
        "UDP", 53, "EGRESS", 5)
    assert drop["first_seen"] == "2026-03-01T10:00:00.5Z"
    assert drop["last_seen"] == "2026-03-01T10:00:04.5Z"
    assert drop["classification"] == "explained" and drop["verdict"] == "denied"
    assert drop["causes"] == ["missing-dns-egress"]
    assert drop["policies"] == [{"kind": "NetworkPolicy", "namespace": "shop",
                                 "name": "default-deny",
                                 "file": str(tmp_path / "repo" / "policies.yaml"),
                                 "line": 6}]
    fix = drop["fix"]
    assert fix is not None
    [new] = fix["creates"]
    [rule] = new["spec"]["egress"]
    # the DNS rule as missing-dns-egress writes it, not a rule pinned to one DNS pod
    assert rule == {"to": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}
    assert {(o["from"], o["protocol"], o["port"]) for o in fix["opens"]} >= {
        ("shop/Deployment/web", "UDP", 53), ("shop/Deployment/web", "TCP", 53)}
    assert data["summary"]["dropped"] == 5 and data["summary"]["explained"] == 1


def test_egress_drop_of_a_one_sided_allow(tmp_path: Path) -> None:
    code, data, _ = run(tmp_path, SHOP, times(3, src=WEB, dst=API, port=8080))
    assert code == 1
    [drop] = data["drops"]
    assert drop["causes"] == ["one-sided-allow"] and drop["count"] == 3
    assert [p["name"] for p in drop["policies"]] == ["default-deny"]
    [new] = drop["fix"]["creates"]
    assert new["metadata"]["name"] == "web-allow-egress"
    assert new["spec"]["egress"][0]["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert [(o["from"], o["to"], o["port"]) for o in drop["fix"]["opens"]] == [
        ("shop/Deployment/web", "shop/Deployment/api", 8080)]


NAMESPACE_LABEL = """\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: Namespace
metadata:
  name: payments
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: gateway-ingress
  namespace: payments
spec:
  podSelector:
    matchLabels:
      app: gateway
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          team: shop
    ports:
    - port: 8443
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: gateway
  namespace: payments
spec:
  selector: {matchLabels: {app: gateway}}
  template:
    metadata: {labels: {app: gateway}}
    spec: {containers: [{name: gw, image: gw, ports: [{containerPort: 8443}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, image: api}]}
"""


def test_ingress_drop_from_a_namespace_without_the_selected_label(tmp_path: Path) -> None:
    gateway = endpoint("payments", "gateway-5b6c7d8f9-qwert", {"app": "gateway"})
    code, data, _ = run(tmp_path, NAMESPACE_LABEL,
                        times(4, src=API, dst=gateway, port=8443, direction="INGRESS"))
    assert code == 1
    [drop] = data["drops"]
    assert drop["direction"] == "INGRESS" and drop["count"] == 4
    assert "namespace-selector-unmatched" in drop["causes"]
    assert drop["policies"] == [{"kind": "NetworkPolicy", "namespace": "payments",
                                 "name": "gateway-ingress",
                                 "file": str(tmp_path / "repo" / "policies.yaml"),
                                 "line": 11}]
    assert drop["fix"] is not None and drop["fix"]["opens"]
    assert any("matches no namespace" in d for d in drop["details"])


def test_a_drop_the_sources_allow_is_not_explained(tmp_path: Path) -> None:
    """No policy isolates either side in `other`: the sources allow it."""
    sources = SHOP + """\
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
  namespace: other
spec:
  selector: {matchLabels: {app: worker}}
  template:
    metadata: {labels: {app: worker}}
    spec: {containers: [{name: w, image: w}]}
"""
    worker = endpoint("other", "worker-5d6f7-abcde", {"app": "worker"})
    code, data, _ = run(tmp_path, sources, times(2, src=worker, dst=worker, port=9000))
    assert code == 0
    [drop] = data["drops"]
    assert drop["classification"] == "not-explained" and drop["verdict"] == "allowed"
    assert drop["fix"] is None and drop["causes"] == []
    assert drop["details"][0].startswith("drift:")
    assert "diff SOURCES --cluster" in drop["details"][0]


def test_dropped_on_the_side_the_sources_allow_is_drift_not_explained(tmp_path: Path) -> None:
    """The sources deny web -> api:9090 only at api's ingress; the dataplane dropped it at
    web's egress, which the sources allow here: the live egress differs."""
    sources = SHOP.replace("  policyTypes: [Ingress, Egress]\n",
                           "  policyTypes: [Ingress]\n", 1)
    code, data, _ = run(tmp_path, sources, times(1, src=WEB, dst=API, port=9090))
    [drop] = data["drops"]
    assert drop["classification"] == "not-explained" and drop["verdict"] == "denied"
    assert "only at ingress" in drop["explanation"] and "drift" in drop["explanation"]
    assert code == 0


def test_forwarded_new_connections_the_sources_deny_are_an_enforcement_gap(
        tmp_path: Path) -> None:
    lines = times(3, src=WEB, dst=API, port=9090, verdict="FORWARDED")
    # packets of established connections and replies say nothing about the policy
    lines += [hubble(src=WEB, dst=API, port=9090, verdict="FORWARDED", syn=False),
              hubble(src=API, dst=WEB, port=40000, verdict="FORWARDED", reply=True,
                     syn=False)]
    code, data, _ = run(tmp_path, SHOP, lines)
    assert code == 1
    assert data["drops"] == []
    [gap] = data["enforcement_gaps"]
    assert gap["classification"] == "enforcement-gap" and gap["count"] == 3
    assert gap["verdict"] == "denied"
    assert data["summary"]["forwarded"] == 5


def test_forwarded_flows_the_sources_allow_are_only_counted(tmp_path: Path) -> None:
    sources = SHOP + """\
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web-egress
  namespace: shop
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: api}}}]
    ports: [{port: 8080}]
"""
    code, data, _ = run(tmp_path, sources,
                        times(4, src=WEB, dst=API, port=8080, verdict="FORWARDED"))
    assert code == 0
    assert data["drops"] == [] and data["enforcement_gaps"] == []
    assert data["summary"]["forwarded"] == 4 and data["summary"]["flows"] == 4


CNP_DENY = """\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: deny-web-to-api
  namespace: shop
spec:
  endpointSelector:
    matchLabels:
      app: web
  egressDeny:
  - toEndpoints:
    - matchLabels:
        app: api
"""


def test_explicit_deny_names_the_policy_hubble_named_and_finds_it_in_the_sources(
        tmp_path: Path) -> None:
    line = hubble(src=WEB, dst=API, port=8080, reason="POLICY_DENY",
                  egress_denied_by=[{"name": "deny-web-to-api", "namespace": "shop",
                                     "kind": "CiliumNetworkPolicy", "revision": "3"}])
    code, data, _ = run(tmp_path, SHOP + "---\n" + CNP_DENY, [line])
    assert code == 1
    [drop] = data["drops"]
    assert drop["classification"] == "explicit-deny" and drop["reason"] == "POLICY_DENY"
    assert drop["policies"] == [{"kind": "CiliumNetworkPolicy", "namespace": "shop",
                                 "name": "deny-web-to-api",
                                 "file": str(tmp_path / "repo" / "policies.yaml"),
                                 "line": SHOP.count("\n") + 2}]
    assert "with deny rules" in drop["details"][0]
    missing = hubble(src=WEB, dst=API, port=8080, reason="POLICY_DENY",
                     egress_denied_by=[{"name": "elsewhere", "namespace": "shop",
                                        "kind": "CiliumNetworkPolicy"}])
    _, data, _ = run(tmp_path, SHOP, [missing])
    assert "is not in the sources" in data["drops"][0]["details"][0]


def test_other_drop_reasons_and_dropped_replies_are_not_policy_verdicts(
        tmp_path: Path) -> None:
    lines = [hubble(src=WEB, dst=API, port=8080, reason="INVALID_SOURCE_IP"),
             hubble(src=API, dst=WEB, port=40000, reply=True, syn=False)]
    code, data, _ = run(tmp_path, SHOP, lines)
    assert code == 0
    assert [d["classification"] for d in data["drops"]] == ["not-policy", "not-policy"]
    reply = next(d for d in data["drops"] if d["reason"] == "POLICY_DENIED")
    assert "reply" in reply["explanation"]


def test_egress_to_the_world_is_explained_with_an_ipblock_fix(tmp_path: Path) -> None:
    world = endpoint(None, None, identity=2, reserved="world")
    code, data, _ = run(tmp_path, SHOP, times(2, src=WEB, dst=world, port=443,
                                              dst_ip="93.184.215.14"))
    assert code == 1
    [drop] = data["drops"]
    assert drop["destination"] == "93.184.215.14"
    assert drop["classification"] == "explained"
    [new] = drop["fix"]["creates"]
    assert new["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "93.184.215.14/32"}}]


def test_an_endpoint_that_cannot_be_resolved_is_said_per_group(tmp_path: Path) -> None:
    """A cilium monitor line carries only addresses and identities: pods the sources do
    not hold with those addresses cannot be resolved, and the group says why."""
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "policies.yaml").write_text(SHOP)
    (tmp_path / "m.txt").write_text(
        "xx drop (Policy denied) flow 0x1 to endpoint 9, identity 48447->51566: "
        "10.9.9.9:45830 -> 10.9.9.10:80 tcp SYN\n")
    result = CliRunner().invoke(main, ["drops", str(tmp_path / "repo"), "--flows",
                                       str(tmp_path / "m.txt"), "--format", "json"])
    data = json.loads(result.stdout)
    assert data["drops"] == []
    [group] = data["unresolved"]
    assert group["classification"] == "unresolved"
    assert "no pod of the sources has IP 10.9.9.9" in group["explanation"]
    assert result.exit_code == 0


def test_pods_with_addresses_resolve_cilium_monitor_lines_by_ip(tmp_path: Path) -> None:
    pods = SHOP + """\
---
apiVersion: v1
kind: Pod
metadata:
  name: web-7c9f8d6b5-abcde
  namespace: shop
  labels: {app: web}
spec: {containers: [{name: web, image: nginx}]}
status: {podIP: 10.0.0.5}
---
apiVersion: v1
kind: Pod
metadata:
  name: api-6d8f7c9b4-xyz12
  namespace: shop
  labels: {app: api}
spec: {containers: [{name: api, image: api, ports: [{containerPort: 8080}]}]}
status: {podIP: 10.0.0.7}
"""
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "policies.yaml").write_text(pods)
    (tmp_path / "m.txt").write_text(
        "xx drop (Policy denied) flow 0x1 to endpoint 9, ifindex 29, file bpf_lxc.c:1274, "
        ", identity 1001->1002: 10.0.0.5:45830 -> 10.0.0.7:8080 tcp SYN\n" * 2)
    result = CliRunner().invoke(main, ["drops", str(tmp_path / "repo"), "--flows",
                                       str(tmp_path / "m.txt"), "--format", "json"])
    data = json.loads(result.stdout)
    [drop] = data["drops"]
    assert drop["source"] == "shop/web-7c9f8d6b5-abcde[Pod]"
    assert drop["count"] == 2 and drop["causes"] == ["one-sided-allow"]
    assert result.exit_code == 1


NODES_AND_PORTS = SHOP + """\
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: api-from-nodes
  namespace: shop
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Ingress]
  ingress:
  - from: [{ipBlock: {cidr: 172.18.0.0/16}}]
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  selector: {app: api}
  ports: [{port: 80, targetPort: 8080}]
"""


def test_likely_reasons_name_cilium_node_identities_and_service_ports(
        tmp_path: Path) -> None:
    """The sources admit the node range by ipBlock; under Cilium, CIDR rules never match
    the host or remote-node identities (unless policy-cidr-match-mode includes nodes)."""
    node = endpoint(None, None, identity=6, reserved="remote-node")
    code, data, _ = run(tmp_path, NODES_AND_PORTS,
                        [hubble(src=node, dst=API, port=8080, direction="INGRESS",
                                src_ip="172.18.0.3")])
    [drop] = data["drops"]
    assert drop["source"] == "remote-node 172.18.0.3"
    assert drop["classification"] == "not-explained" and drop["verdict"] == "allowed"
    assert any("never match the host, remote-node or kube-apiserver" in d
               for d in drop["details"])
    assert any("Service shop/api maps port 80 to targetPort 8080" in d
               for d in drop["details"])
    assert code == 0


def test_icmp_denied_under_cilium_names_cilium_icmp_denied(tmp_path: Path) -> None:
    """api's only ingress rule carries ports, so it admits no ICMP (a rule with ports
    names TCP/UDP/SCTP only); Hubble's flow says the dataplane is Cilium."""
    code, data, _ = run(tmp_path, SHOP, [hubble(src=WEB, dst=API, port=8,
                                                protocol="ICMPv4", direction="INGRESS")])
    [drop] = data["drops"]
    assert drop["classification"] == "explained" and drop["icmp_type"] == 8
    assert "cilium-icmp-denied" in drop["causes"]
    assert code == 1


def test_calico_flow_logs_explained_and_explicit_deny(tmp_path: Path) -> None:
    """An Enterprise-style deny naming the Kubernetes default-deny (the end of that
    policy, not a deny rule) is a default deny the engine explains; a Goldmane deny by a
    GlobalNetworkPolicy rule is an explicit deny by a kind the sources do not hold."""
    default = json.dumps({
        "start_time": 1767225600, "source_namespace": "shop",
        "source_name_aggr": "web-7c9f8d6b5-*", "source_type": "wep",
        "source_labels": {"labels": ["app=web"]}, "dest_namespace": "shop",
        "dest_name_aggr": "api-6d8f7c9b4-*", "dest_type": "wep",
        "dest_labels": {"labels": ["app=api"]}, "dest_port": 8080, "proto": "tcp",
        "action": "deny", "reporter": "src", "num_flows": 6,
        "policies": {"all_policies": ["0|default|shop/knp.default.default-deny|deny|-1"]}})
    gnp = json.dumps({"flow": {"Key": {
        "source_name": "web-7c9f8d6b5-*", "source_namespace": "shop",
        "source_type": "WorkloadEndpoint", "dest_name": "api-6d8f7c9b4-*",
        "dest_namespace": "shop", "dest_type": "WorkloadEndpoint", "dest_port": 9999,
        "proto": "tcp", "reporter": "Dst", "action": "Deny",
        "policies": {"enforced_policies": [{"kind": "GlobalNetworkPolicy", "name": "no-9999",
                                            "tier": "security", "action": "Deny"}]}},
        "start_time": 1767225600, "num_connections_started": 2}})
    code, data, _ = run(tmp_path, SHOP, [default, gnp])
    first, second = data["drops"]
    assert (first["source"], first["destination"], first["count"]) == (
        "shop/web[Deployment]", "shop/api[Deployment]", 6)
    assert first["classification"] == "explained" and first["causes"] == ["one-sided-allow"]
    assert first["direction"] == "EGRESS"
    assert second["classification"] == "explicit-deny" and second["count"] == 2
    assert second["policies"][0]["kind"] == "GlobalNetworkPolicy"
    assert "is not in the sources" in second["details"][0]
    assert code == 1


def test_namespace_labels_the_flow_shows_are_compared_with_the_sources(
        tmp_path: Path) -> None:
    """Cilium's flow carries the live namespace's labels: the cluster's `shop` has
    team=shop, which the selector wants, and the sources' Namespace has no such label.
    The sources explain the drop, and the group says their verdict rests on labels the
    cluster's namespace does have."""
    api = endpoint("shop", "api-6d8f7c9b4-xyz12", {"app": "api"},
                   namespace_labels={"team": "shop", "kubernetes.io/metadata.name": "shop"})
    gateway = endpoint("payments", "gateway-5b6c7d8f9-qwert", {"app": "gateway"})
    _, data, _ = run(tmp_path, NAMESPACE_LABEL,
                     [hubble(src=api, dst=gateway, port=8443, direction="INGRESS")])
    [drop] = data["drops"]
    assert drop["classification"] == "explained"
    assert "namespace-selector-unmatched" in drop["causes"]
    assert any(d.startswith("drift: namespace shop has labels {team=shop} in the cluster")
               for d in drop["details"])


def test_no_ipblock_fix_for_node_side_traffic_under_cilium(tmp_path: Path) -> None:
    """The sources deny the host's probes to api (its default-deny), but an ipBlock for the
    node address would not admit them under Cilium: the group is explained, without a
    fix, and says what would admit them."""
    host = endpoint(None, None, identity=1, reserved="host")
    code, data, _ = run(tmp_path, SHOP, [hubble(src=host, dst=API, port=8080,
                                                direction="INGRESS", src_ip="172.18.0.2")])
    [drop] = data["drops"]
    assert drop["classification"] == "explained" and drop["fix"] is None
    assert any(d.startswith("no fix: host 172.18.0.2 is node-side traffic")
               for d in drop["details"])
    assert code == 1
