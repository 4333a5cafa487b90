"""Cilium policies inside the NetworkPolicy tier: which endpoints a CiliumNetworkPolicy or
CiliumClusterwideNetworkPolicy selects, which it puts in default deny per direction, and
which endpoints and external ranges each rule's peers match.

Cilium's semantics (Documentation/security/policy/{intro,language,deny,kubernetes}.rst):
an endpoint is default-deny in a direction once a rule set selecting it has rules for that
direction (unless `enableDefaultDeny` turns that off), and is allowed what the union of
the allow rules (its NetworkPolicies' included) admits; deny rules "take precedence over
allow policies, regardless of whether they are a Cilium Network Policy, a Clusterwide
Cilium Network Policy or even a Kubernetes Network Policy". Pods are matched by labels
only: CIDR rules match addresses outside the cluster; the entities `cluster` and `all`
hold every endpoint, `world` (and `all`) every external address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netpol_fix.model.cilium_policy import (
    POD_ENTITIES,
    WORLD_ENTITIES,
    CiliumEndpoints,
    CiliumPolicy,
    CiliumRule,
)

if TYPE_CHECKING:
    from netpol_fix.engine.network import Network

IPV4_MAX = (1 << 32) - 1


class CiliumTier:
    def __init__(self, network: Network) -> None:
        self.net = network
        from netpol_fix.engine.tiers import cilium_enforced

        self.policies = list(network.inventory.cilium) \
            if cilium_enforced(network.cni.name) else []
        size = network.size
        self.rows: dict[str, list[list[tuple[CiliumPolicy, CiliumRule]]]] = {
            "Ingress": [[] for _ in range(size)], "Egress": [[] for _ in range(size)]}
        self.isolating: dict[str, list[list[CiliumPolicy]]] = {
            "Ingress": [[] for _ in range(size)], "Egress": [[] for _ in range(size)]}
        self._bits: dict[int, tuple[CiliumRule, int]] = {}
        self.selected_bits: dict[int, int] = {}
        for policy in self.policies:
            for rule_set in policy.rule_sets:
                if rule_set.endpoint_selector is None:
                    continue  # nodeSelector: nodes, not pods
                bits = self.endpoint_bits(rule_set.endpoint_selector) & network.pod_network
                self.selected_bits[id(rule_set)] = bits
                for i in _iter(bits):
                    for rule in rule_set.rules:
                        self.rows[rule.direction][i].append((policy, rule))
                    for direction, on in rule_set.default_deny.items():
                        if on and policy not in self.isolating[direction][i]:
                            self.isolating[direction][i].append(policy)

    def endpoint_bits(self, selector: CiliumEndpoints) -> int:
        if selector.never:
            return 0
        net = self.net
        if selector.namespace_selector is None:
            members = net.all
        else:
            members = 0
            for ns in net.namespaces_matching(selector.namespace_selector):
                members |= net.ns_members.get(ns, 0)
        if members:
            members &= net.pod_index.select(selector.pod_selector)
        return members

    def isolated(self, index: int, direction: str) -> bool:
        return bool(self.isolating[direction][index])

    def rule_bits(self, rule: CiliumRule) -> int:
        """Endpoints the rule's peers match: by labels (never hostNetwork pods, whose
        identity is the host's), every endpoint for `cluster`/`all` or a wildcard rule."""
        entry = self._bits.get(id(rule))
        if entry is not None and entry[0] is rule:
            return entry[1]
        net = self.net
        if rule.all_peers or any(e in POD_ENTITIES for e in rule.entities):
            bits = net.all
        else:
            bits = 0
            for selector in rule.endpoints:
                bits |= self.endpoint_bits(selector)
            bits &= net.pod_network
        self._bits[id(rule)] = (rule, bits)
        return bits


def cilium_intervals(rule: CiliumRule) -> list[tuple[int, int]]:
    """The IPv4 intervals a rule's peers admit outside the cluster."""
    if rule.all_peers or any(e in WORLD_ENTITIES for e in rule.entities):
        return [(0, IPV4_MAX)]
    out: list[tuple[int, int]] = []
    for block in rule.cidrs:
        out.extend(block.intervals(4))
    return out


def _iter(bits: int) -> list[int]:
    out = []
    while bits:
        low = bits & -bits
        out.append(low.bit_length() - 1)
        bits ^= low
    return out
