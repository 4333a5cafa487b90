"""cilium-icmp-denied: under Cilium, an L4 NetworkPolicy rule makes the pods drop ping.

Cilium: "If any layer 4 policy is specified, then ICMP will be blocked unless it's related
to a connection that is otherwise allowed". A NetworkPolicy cannot name ICMP, so pods whose
ingress rules all carry `ports` cannot be pinged, which breaks health checks and the first
thing an engineer tries when debugging. Only a CiliumNetworkPolicy can add it back.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from netpol_fix.engine.network import iter_bits
from netpol_fix.fixes.cilium_icmp import ECHO_REQUESTS
from netpol_fix.inventory.build import NAME_LABEL
from netpol_fix.model.cilium_policy import POD_NAMESPACE
from netpol_fix.model.findings import UNSAFE, WARNING, Finding, Fix, Flow, NewObject
from netpol_fix.model.objects import endpoint_ref
from netpol_fix.model.policy import NetworkPolicy, Peer
from netpol_fix.model.selectors import LabelSelector
from netpol_fix.rules.base import Rule, RuleDoc
from netpol_fix.rules.cilium import allows_icmp_ingress
from netpol_fix.rules.context import Context, suppressed

NAMESPACE_LABELS = "k8s:io.cilium.k8s.namespace.labels."
ALL_SOURCES = "all"


def _expression(key: str, operator: str, values: Iterable[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"key": key, "operator": operator}
    if operator in ("In", "NotIn"):
        out["values"] = sorted(values)
    return out


def endpoint_selector(peer: Peer, policy_namespace: str) -> dict[str, Any]:
    """A NetworkPolicy selector peer as a Cilium `fromEndpoints` selector, translated as
    Cilium translates NetworkPolicy: namespace labels become `io.cilium.k8s.namespace.labels.`
    keys, and a peer without namespaceSelector is pinned to the policy's namespace."""
    labels: dict[str, str] = {}
    expressions: list[dict[str, Any]] = []
    if peer.pod_selector is not None:
        labels.update(peer.pod_selector.match_labels)
        expressions += [_expression(r.key, r.operator, r.values)
                        for r in peer.pod_selector.match_expressions]
    ns: LabelSelector | None = peer.namespace_selector
    if ns is None:
        labels[POD_NAMESPACE] = policy_namespace
    elif ns.is_empty:
        expressions.append(_expression(POD_NAMESPACE, "Exists", ()))
    else:
        for key, value in ns.match_labels:
            labels[POD_NAMESPACE if key == NAME_LABEL else NAMESPACE_LABELS + key] = value
        expressions += [_expression(NAMESPACE_LABELS + r.key, r.operator, r.values)
                        for r in ns.match_expressions]
    selector: dict[str, Any] = {}
    if labels:
        selector["matchLabels"] = dict(sorted(labels.items()))
    if expressions:
        selector["matchExpressions"] = expressions
    return selector


def icmp_policy(policy: NetworkPolicy) -> dict[str, Any]:
    """The CiliumNetworkPolicy that allows echo requests from the policy's ingress peers."""
    assert policy.source is not None
    endpoints: list[dict[str, Any]] = []
    cidrs: list[dict[str, Any]] = []
    everyone = False
    for rule in policy.ingress:
        everyone = everyone or rule.all_peers
        for peer in rule.peers:
            if peer.ip_block is not None:
                entry: dict[str, Any] = {"cidr": str(peer.ip_block.cidr)}
                if peer.ip_block.excepts:
                    entry["except"] = [str(e) for e in peer.ip_block.excepts]
                if entry not in cidrs:
                    cidrs.append(entry)
            else:
                selector = endpoint_selector(peer, policy.namespace)
                if selector not in endpoints:
                    endpoints.append(selector)
    rules: list[dict[str, Any]] = []
    if everyone:
        rules.append({"fromEntities": ["all"], "icmps": copy.deepcopy(ECHO_REQUESTS)})
    else:
        if endpoints:
            rules.append({"fromEndpoints": endpoints, "icmps": copy.deepcopy(ECHO_REQUESTS)})
        if cidrs:
            rules.append({"fromCIDRSet": cidrs, "icmps": copy.deepcopy(ECHO_REQUESTS)})
    spec = policy.source.obj.get("spec") or {}
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": f"{policy.name}-icmp", "namespace": policy.namespace},
        "spec": {
            "endpointSelector": copy.deepcopy(spec.get("podSelector") or {}),
            "ingress": rules,
        },
    }


class CiliumIcmpDenied(Rule):
    id = "cilium-icmp-denied"
    severity = WARNING
    applicability = UNSAFE
    summary = "Under Cilium, pods whose ingress rules all carry ports drop ICMP (ping)"
    doc = RuleDoc(
        why=(
            "Cilium blocks ICMP towards an endpoint as soon as a layer 4 rule applies to it "
            "(\"If any layer 4 policy is specified, then ICMP will be blocked unless it's "
            "related to a connection that is otherwise allowed\"). A NetworkPolicy whose "
            "ingress rules all list `ports` is such a rule, and NetworkPolicy has no way to "
            "name ICMP. So `ping` to the pods fails from peers that may connect to their "
            "ports, which misleads debugging and breaks ICMP health checks."),
        example=(
            "kind: NetworkPolicy\nmetadata: {name: web, namespace: shop}\nspec:\n"
            "  podSelector: {matchLabels: {app: web}}\n  ingress:\n"
            "  - from: [{podSelector: {matchLabels: {app: client}}}]\n"
            "    ports: [{port: 8080}]"),
        fix=(
            "Create a CiliumNetworkPolicy `<policy>-icmp` in the same namespace, placed right "
            "after the policy, with `endpointSelector` equal to the policy's podSelector and "
            "ingress rules that allow ICMP echo requests (IPv4 type 8, IPv6 type 128, as "
            "numbers for older Cilium) from the same peers: `fromEndpoints` for pod and "
            "namespace selectors (namespace labels translated as Cilium does), "
            "`fromCIDRSet` for ipBlocks, `fromEntities: [all]` for rules without `from`. "
            "`icmps` never share a rule with `toPorts`."),
        unsafe=(
            "Unsafe: it opens ICMP echo from those peers, which the NetworkPolicy author may "
            "not have wanted, and it needs the CiliumNetworkPolicy CRD (not present on every "
            "Cilium-based dataplane). Allows of several Cilium policies add up, so it does "
            "not deny anything the NetworkPolicy allows."),
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        if ctx.settings.cni != "cilium":
            return []
        findings = []
        for policy in ctx.inventory.policies:
            if not policy.isolates("Ingress") or not policy.ingress:
                continue  # no ingress rules: a deny-all that denies ICMP on purpose
            if not all(rule.ports for rule in policy.ingress):
                continue
            if suppressed(self.id, policy.source) or self._already_allowed(ctx, policy):
                continue
            findings.append(self._finding(ctx, policy))
        return findings

    def _already_allowed(self, ctx: Context, policy: NetworkPolicy) -> bool:
        raw = (policy.source.obj.get("spec") or {}).get("podSelector") if policy.source else None
        return any(allows_icmp_ingress(source, policy.namespace, raw or {})
                   for source in ctx.inventory.cilium_policies)

    def icmp_opens(self, ctx: Context, policy: NetworkPolicy) -> list[Flow]:
        """Echo flows the new policy makes possible: peers whose egress side already lets
        ICMP out (no port-restricted egress isolation) and whose ICMP the pods now admit."""
        net = ctx.network
        flows: list[Flow] = []
        for dst in ctx.selected_endpoints(policy):
            target = endpoint_ref(net.endpoints[dst])
            peers = 0
            external: list[str] = []
            for rule in policy.ingress:
                peers |= net.rule_peer_bits(policy, rule)
                if rule.all_peers:
                    external.append(ALL_SOURCES)
                external += [str(p.ip_block) for p in rule.peers if p.ip_block is not None]
                # peers the sources hold no pod of still get ping: named by their selectors
                external += [f"{policy.namespace}: {p}" if p.namespace_selector is None
                             else str(p) for p in rule.peers
                             if p.ip_block is None and not net.peer_bits(policy, p)]
            for src in iter_bits(peers & net.pod_network):
                if src == dst:
                    continue
                before = net.ingress_conns(src, dst).other and net.egress_conns(src, dst).other
                if not before and net.egress_conns(src, dst).other:
                    flows.append(Flow(endpoint_ref(net.endpoints[src]), target, "ICMP"))
            flows += [Flow(source, target, "ICMP") for source in dict.fromkeys(external)]
        return sorted(set(flows), key=lambda f: (f.source, f.destination))

    def _finding(self, ctx: Context, policy: NetworkPolicy) -> Finding:
        affected = [endpoint_ref(ctx.network.endpoints[i]) for i in ctx.selected_endpoints(policy)]
        message = (f"under Cilium, pods selected by NetworkPolicy {policy.key} drop ICMP echo "
                   "(ping) from the peers it admits: every ingress rule lists ports, a layer 4 "
                   "rule makes Cilium block ICMP, and NetworkPolicy cannot allow ICMP")
        fix = None
        if policy.source is not None:
            new = NewObject(icmp_policy(policy), after=policy.source)
            fix = Fix(UNSAFE, f"create CiliumNetworkPolicy {policy.namespace}/{policy.name}-icmp "
                              "allowing ICMP echo (IPv4 type 8, IPv6 type 128) from the same "
                              "peers", [], [new], self.icmp_opens(ctx, policy))
        return Finding(self.id, self.severity, policy.ref, policy.source, message, affected, fix)
