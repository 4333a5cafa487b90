"""peer-selects-host-network: a pod/namespace selector peer that only matches hostNetwork pods.

A hostNetwork pod's traffic carries its node's address, and CNIs match pod and namespace
selectors against pod addresses, so a peer that selects only hostNetwork pods (a NodeLocal
DNS cache, node-exporter, an ingress controller on the host network) never matches: the
connection the rule was written for is dropped while the manifest reads as if allowed
(OpenShift docs, Network policy: "Pods with host networking enabled are unaffected by
network policy rules"; Kubernetes e2e tests treat host-network peers as node addresses).
Only an ipBlock holding the node's address admits them (not under Cilium, whose CIDR rules
never match nodes: there the `remote-node`/`host` entities of a CiliumNetworkPolicy do).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from netpol_fix.engine.network import iter_bits
from netpol_fix.fixes.effect import flows_opened, patched_policies
from netpol_fix.model.findings import ERROR, UNSAFE, Finding, Fix, Patch
from netpol_fix.model.objects import endpoint_ref
from netpol_fix.model.policy import NetworkPolicy, Peer
from netpol_fix.model.policy import Rule as PolicyRule
from netpol_fix.rules.base import Rule, RuleDoc
from netpol_fix.rules.context import Context, suppressed


class PeerSelectsHostNetwork(Rule):
    id = "peer-selects-host-network"
    severity = ERROR
    applicability = UNSAFE
    summary = "A selector peer that matches only hostNetwork pods, whose traffic it never matches"
    doc = RuleDoc(
        why=(
            "Pods with hostNetwork: true send and receive with their node's address. Pod and "
            "namespace selectors match pod addresses, so a rule whose peer selects only "
            "hostNetwork pods admits nothing: egress to a hostNetwork DaemonSet (or ingress "
            "from it) is dropped although the policy names it. Only an ipBlock holding the "
            "node addresses admits that traffic (under Cilium not even that: use a "
            "CiliumNetworkPolicy `toEntities: [remote-node, host]`)."),
        example=(
            "kind: NetworkPolicy\nspec:\n  podSelector: {}\n  egress:\n"
            "  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: "
            "monitoring}}, podSelector: {matchLabels: {app: node-agent}}}]\n"
            "# node-agent is a DaemonSet with hostNetwork: true"),
        fix=(
            "With --node-cidr (or node-cidr in .netpol-fix.yaml): add an ipBlock peer for "
            "the node CIDR to the same rule, on the same ports. Without it there is no fix; "
            "the finding says which workloads are on the host network."),
        unsafe=(
            "Unsafe: the ipBlock admits every node address (every hostNetwork pod and the "
            "nodes themselves) on the rule's ports, not only the pods the selector meant; "
            "the fix's `opens` lists them."),
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        net = ctx.network
        if net.host_network == 0:
            return []
        findings = []
        for policy in ctx.inventory.policies:
            if suppressed(self.id, policy.source):
                continue
            for direction in policy.policy_types:
                for rule in policy.rules(direction):
                    for peer in rule.peers:
                        hosts = self._only_host_network(ctx, policy, peer)
                        if hosts:
                            findings.append(self._finding(ctx, policy, rule, peer, hosts))
        return findings

    @staticmethod
    def _only_host_network(ctx: Context, policy: NetworkPolicy, peer: Peer) -> list[int]:
        """The hostNetwork endpoints the peer's selectors name, when it names no other pod."""
        if peer.ip_block is not None:
            return []
        net = ctx.network
        if net.peer_bits(policy, peer):
            return []  # it matches ordinary pods too: not only a host-network peer
        if peer.namespace_selector is None:
            members = net.ns_members.get(policy.namespace, 0)
        else:
            members = 0
            for ns in net.namespaces_matching(peer.namespace_selector):
                members |= net.ns_members.get(ns, 0)
        members &= net.host_network
        if members and peer.pod_selector is not None:
            members &= net.pod_index.select(peer.pod_selector)
        return [i for i in iter_bits(members) if not net.endpoints[i].representative]

    def _finding(self, ctx: Context, policy: NetworkPolicy, rule: PolicyRule, peer: Peer,
                 hosts: list[int]) -> Finding:
        net = ctx.network
        names = ", ".join(net.endpoints[i].key for i in hosts)
        side = "to" if rule.direction == "Egress" else "from"
        message = (f"NetworkPolicy {policy.key} {rule.label} peer #{peer.index + 1} ({peer}) "
                   f"matches only hostNetwork pods ({names}), whose traffic carries the node's "
                   f"address: the peer never matches, so traffic {side} them is dropped")
        affected = [endpoint_ref(net.endpoints[i]) for i in ctx.selected_endpoints(policy)]
        fix = self._fix(ctx, policy, rule)
        if fix is None:
            message += ("; give --node-cidr for the ipBlock fix" if ctx.cni.ip_blocks_match_nodes
                        else "; under Cilium an ipBlock does not match nodes either: allow "
                             "the remote-node and host entities in a CiliumNetworkPolicy")
        return Finding(self.id, self.severity, policy.ref, policy.source, message, affected,
                       fix)

    @staticmethod
    def _fix(ctx: Context, policy: NetworkPolicy, rule: PolicyRule) -> Fix | None:
        cidr = ctx.cni.node_cidr
        if cidr is None or policy.source is None or not ctx.cni.ip_blocks_match_nodes:
            return None
        field = rule.direction.lower()
        key = "to" if rule.direction == "Egress" else "from"
        raw: Any = policy.source.obj["spec"][field][rule.index][key]
        path = f"/spec/{field}/{rule.index}/{key}"
        block = {"ipBlock": {"cidr": str(cidr)}}
        if block in raw:
            return None
        ops = [{"op": "test", "path": f"{path}/{len(raw) - 1}", "value": raw[-1]},
               {"op": "add", "path": f"{path}/-", "value": block}]
        patch = Patch(policy.ref, ops, policy.source)
        opens = flows_opened(ctx.network, patched_policies(ctx.inventory, [patch]))
        named = " (named ports match no ipBlock peer: use numbers)" if rule.has_named_ports \
            else ""
        return Fix(UNSAFE, f"add an ipBlock {cidr} (--node-cidr) peer to NetworkPolicy "
                           f"{policy.key} {rule.label}, admitting the node addresses that "
                           f"hostNetwork pods use{named}", [patch], [], opens)
