"""missing-dns-egress: pods isolated for egress that cannot reach cluster DNS.

The most common silent denial: a default-deny egress policy lands, every name lookup
times out, and the application reports "connection timed out" to a service it can in fact
reach. Resolvers use UDP and fall back to TCP for large answers, so both are needed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from netpol_fix.engine.cni import holds_whole
from netpol_fix.engine.network import iter_bits
from netpol_fix.fixes.append import append_rules_operations
from netpol_fix.fixes.effect import flows_between, flows_opened, patched_policies, unique_flows
from netpol_fix.inventory.build import NAME_LABEL
from netpol_fix.model.connset import ConnSet
from netpol_fix.model.findings import ERROR, SAFE, Finding, Fix, Flow, Patch
from netpol_fix.model.objects import endpoint_ref
from netpol_fix.model.policy import NetworkPolicy
from netpol_fix.rules.base import Rule, RuleDoc
from netpol_fix.rules.context import NODELOCAL_DNS_PORT, Context, DnsTarget, suppressed
from netpol_fix.rules.tier_dns import tier_dns_findings


def dns_rule(namespace: str, labels: dict[str, str], port: int,
             protocols: Iterable[str] = ("UDP", "TCP")) -> dict[str, Any]:
    """The egress rule a fix appends: the DNS pods, by namespace name and pod labels."""
    return {
        "to": [{
            "namespaceSelector": {"matchLabels": {NAME_LABEL: namespace}},
            "podSelector": {"matchLabels": dict(labels)},
        }],
        "ports": [{"port": port, "protocol": p} for p in protocols],
    }


def dns_rules(dns: DnsTarget, protocols: tuple[str, ...] = ("UDP", "TCP")
              ) -> list[dict[str, Any]]:
    """The rules a DNS fix appends: to the DNS pods and, with NodeLocal DNSCache, to its
    address on port 53 (in the same rule when the pods listen on 53 too), for `protocols`
    (see fix_protocols)."""
    pods = dns_rule(dns.namespace, dns.labels, dns.port, protocols)
    if dns.node_local is None:
        return [pods]
    cache = {"ipBlock": {"cidr": f"{dns.node_local}/32"}}
    if dns.port == NODELOCAL_DNS_PORT:
        return [{"to": [cache, *pods["to"]], "ports": pods["ports"]}]
    return [{"to": [cache], "ports": [{"port": NODELOCAL_DNS_PORT, "protocol": p}
                                      for p in protocols]}, pods]


def fix_protocols(dns: DnsTarget, lacking: tuple[str, ...]) -> tuple[str, ...]:
    """The protocols a DNS fix allows: only the `lacking` ones (a policy allowing UDP gets
    TCP, not a second UDP entry); both with NodeLocal DNSCache, where `lacking` speaks of
    the cache's address alone."""
    return lacking if dns.node_local is None else ("UDP", "TCP")


class MissingDnsEgress(Rule):
    id = "missing-dns-egress"
    severity = ERROR
    applicability = SAFE
    summary = "Pods isolated for egress with no rule allowing UDP and TCP 53 to cluster DNS"
    doc = RuleDoc(
        why=(
            "A pod selected by any policy with policyTypes Egress may only send what some "
            "egress rule allows. Without a rule to the cluster DNS pods every name lookup "
            "times out, and the application reports a timeout to a service it could reach. "
            "Resolvers use UDP and retry over TCP when an answer is truncated, so a UDP-only "
            "rule fails intermittently on large answers."),
        example=(
            "kind: NetworkPolicy\nmetadata: {name: default-deny, namespace: shop}\n"
            "spec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]"),
        fix=(
            "Append one egress rule to the policy that isolates the pods (a namespace's "
            "default-deny when it selects them all): to the DNS pods selected by "
            "`namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}` "
            "and `podSelector: {matchLabels: {k8s-app: kube-dns}}`, ports 53 UDP and TCP. "
            "The DNS target comes from the kube-dns Service when the sources hold it, "
            "OpenShift's openshift-dns (port 5353) when present, else --dns-namespace and "
            "--dns-selector. When the sources run NodeLocal DNSCache (the node-local-dns "
            "DaemonSet, hostNetwork), pods query 169.254.20.10 on their node, which no pod "
            "selector matches: the rule then also names `ipBlock: {cidr: 169.254.20.10/32}` "
            "on port 53, and that address is what the check requires."),
        unsafe=(
            "Safe: it opens DNS to the cluster DNS pods (and the node-local cache address) "
            "and nothing else."),
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        net = ctx.network
        dns_indices = ctx.dns_endpoints()
        if not dns_indices:
            return []
        target = dns_indices[0]
        dns_bits = sum(1 << i for i in dns_indices)
        missing: dict[int, tuple[str, ...]] = {}
        granted = self._namespaces_granting_dns(ctx, target)
        # admin and Cilium policies: the tier that denies DNS gets the finding (rules/tier_dns.py)
        other_tier, tier_findings = tier_dns_findings(ctx, target, dns_bits)
        for i in range(net.size):
            if dns_bits >> i & 1 or not net.isolated(i, "Egress") or i in other_tier:
                continue
            endpoint = net.endpoints[i]
            if endpoint.representative and endpoint.namespace in granted:
                # A stand-in carries only one policy's labels; where the namespace grants DNS
                # to pods by label (opt-in), real pods carry that label too.
                continue
            lacking = self.lacking(ctx, i, target)
            if lacking:
                missing[i] = lacking
        return self._findings(ctx, missing) + tier_findings

    def lacking(self, ctx: Context, index: int, target: int | None = None) -> tuple[str, ...]:
        """The protocols (of UDP, TCP) on which endpoint `index` cannot reach DNS: the DNS
        pods (`target`, default the first), or NodeLocal DNSCache's address when the sources
        run it. (Also what `explain --fix` asks before adding DNS to a fix.)"""
        net, dns = ctx.network, ctx.dns
        if not net.isolated(index, "Egress"):
            return ()
        if dns.node_local is not None:
            # pods query the cache on their node: only an ipBlock rule reaches it
            conns, port = self._address_conns(ctx, index, dns.node_local), NODELOCAL_DNS_PORT
        else:
            if target is None:
                targets = ctx.dns_endpoints()
                if not targets or index in targets:
                    return ()
                target = targets[0]
            conns = net.egress_conns(index, target) | self._ip_block_conns(ctx, index)
            port = dns.port
        return tuple(p for p in ("UDP", "TCP") if not conns.allows(p, port))

    def _namespaces_granting_dns(self, ctx: Context, target: int) -> set[str]:
        """Namespaces with some egress rule that admits the DNS pods (NodeLocal DNSCache's
        address when the sources run it) on the DNS port over both UDP and TCP."""
        net, dns = ctx.network, ctx.dns
        cache = ipaddress.ip_address(dns.node_local) if dns.node_local else None
        granted = set()
        for policy in ctx.inventory.policies:
            for rule in policy.egress:
                if cache is not None:
                    conns = rule.numeric_conns() if net.rule_admits_ip(rule, cache) \
                        else ConnSet.none()
                    port = NODELOCAL_DNS_PORT
                elif net.rule_peer_bits(policy, rule) >> target & 1:
                    conns, port = rule.conns_for(net.endpoints[target].ports), dns.port
                else:
                    continue
                if conns.allows("UDP", port) and conns.allows("TCP", port):
                    granted.add(policy.namespace)
        return granted

    @staticmethod
    def _address_conns(ctx: Context, index: int, address: str) -> ConnSet:
        """What the endpoint's egress admits towards an address outside the pod network."""
        net = ctx.network
        if not net.isolated(index, "Egress"):
            return ConnSet.all()
        ip = ipaddress.ip_address(address)
        conns = ConnSet.none()
        for policy in net.policies_for(index, "Egress"):
            for rule in policy.egress:
                if net.rule_admits_ip(rule, ip):
                    conns = conns | rule.numeric_conns()
        return conns

    def _ip_block_conns(self, ctx: Context, index: int) -> ConnSet:
        """Rules whose ipBlock holds every pod address also reach DNS (except on Cilium,
        where ipBlocks never match pods): 0.0.0.0/0 (or ::/0) whose excepts are only
        link-local or loopback ranges, or one containing --pod-cidr."""
        if not ctx.cni.ip_blocks_match_pods:
            return ConnSet.none()
        result = ConnSet.none()
        for policy in ctx.network.policies_for(index, "Egress"):
            for rule in policy.egress:
                if any(peer.ip_block is not None
                       and holds_whole(peer.ip_block, ctx.cni.pod_cidr) for peer in rule.peers):
                    result = result | ctx.network.rule_numeric_conns(rule)
        return result

    def _cache_flows(self, ctx: Context, policy: NetworkPolicy, address: str) -> list[Flow]:
        """The flows to NodeLocal DNSCache's address that the fix's ipBlock rule opens for
        the pods the policy selects (the engine's pair diff covers pods only)."""
        dns = ConnSet.ports("UDP", NODELOCAL_DNS_PORT) | ConnSet.ports("TCP", NODELOCAL_DNS_PORT)
        flows = []
        for i in iter_bits(ctx.network.selected(policy)):
            gained = dns - self._address_conns(ctx, i, address)
            flows += flows_between(ConnSet.none(), gained,
                                   endpoint_ref(ctx.network.endpoints[i]), f"{address}/32")
        return flows

    def _findings(self, ctx: Context, missing: dict[int, tuple[str, ...]]) -> list[Finding]:
        findings = []
        remaining = set(missing)
        while remaining:
            policy, covered = self._best_policy(ctx, remaining)
            remaining -= covered
            if suppressed(self.id, policy.source):
                continue
            lacking = sorted({p for i in covered for p in missing[i]}, reverse=True)
            findings.append(self._finding(ctx, policy, sorted(covered), tuple(lacking)))
        return findings

    def _best_policy(self, ctx: Context, remaining: set[int]) -> tuple[NetworkPolicy, set[int]]:
        """The egress policy selecting most of the remaining pods; ties: podSelector {}."""
        net = ctx.network
        best: tuple[int, int, str] | None = None
        chosen: tuple[NetworkPolicy, set[int]] | None = None
        candidates = {id(p): p for i in remaining for p in net.policies_for(i, "Egress")}
        for policy in candidates.values():
            covered = set(iter_bits(net.selected(policy))) & remaining
            score = (len(covered), int(policy.pod_selector.is_empty), policy.key)
            if best is None or score[:2] > best[:2] or (score[:2] == best[:2]
                                                      and score[2] < best[2]):
                best, chosen = score, (policy, covered)
        assert chosen is not None
        return chosen

    def _finding(self, ctx: Context, policy: NetworkPolicy, covered: list[int],
                 lacking: tuple[str, ...]) -> Finding:
        net, dns = ctx.network, ctx.dns
        affected = [endpoint_ref(net.endpoints[i]) for i in covered]
        where, port = dns.ref, dns.port
        if dns.node_local is not None:
            where = (f"NodeLocal DNSCache at {dns.node_local} (an ipBlock; a rule to "
                     f"{dns.ref} does not reach the cache on the node)")
            port = NODELOCAL_DNS_PORT
        if len(lacking) == 2:
            problem = (f"no egress rule allows DNS (UDP and TCP {port}) to {where}: "
                       "every name lookup times out")
        else:
            allowed = "TCP" if lacking == ("UDP",) else "UDP"
            problem = (f"egress allows DNS to {where} over {allowed} only; {lacking[0]} "
                       f"{port} is denied, so "
                       + ("lookups with large (truncated) answers fail" if lacking == ("TCP",)
                          else "ordinary lookups time out"))
        message = (f"{len(affected)} workload(s) selected by NetworkPolicy {policy.key} are "
                   f"isolated for egress and {problem} (DNS target: {dns.why})")
        fix = None
        if policy.source is not None:
            protocols = fix_protocols(dns, lacking)
            rules = dns_rules(dns, protocols)
            patch = Patch(policy.ref, append_rules_operations(policy, "Egress", rules),
                          policy.source)
            opens = flows_opened(net, patched_policies(ctx.inventory, [patch]))
            target = dns.ref
            if dns.node_local is not None:
                opens = unique_flows(opens + self._cache_flows(ctx, policy, dns.node_local))
                target += f" and NodeLocal DNSCache {dns.node_local}/32"
            fix = Fix(SAFE, f"append an egress rule to NetworkPolicy {policy.key} allowing "
                            f"{' and '.join(protocols)} {dns.port} to {target}", [patch], [],
                      opens)
        return Finding(self.id, self.severity, policy.ref, policy.source, message, affected,
                       fix)
