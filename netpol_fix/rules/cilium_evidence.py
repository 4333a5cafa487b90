"""one-sided-allow's evidence from CiliumNetworkPolicies: their narrow allow rules.

Cilium's policy language reference: "policies are additive" (an endpoint is allowed what
any of the rules selecting it allow) and a rule selecting an endpoint puts it in default
deny for that rule's direction only. A connection also needs the other side, so a CNP
ingress rule `fromEndpoints: [{app: web, k8s:io.kubernetes.pod.namespace: shop}]` whose
peer's own NetworkPolicy default-deny egress lists nothing of it is the same silent drop
as one written as a NetworkPolicy. A peer is narrow, as for NetworkPolicy peers
(peer_evidence.py), when it names the namespace (a CNP selector without a namespace key is
the policy's own namespace; the inventory reads it as `kubernetes.io/metadata.name`) and
the workload; entities (`cluster`, `all`), CIDRs and `{}` are no evidence, and a
CiliumClusterwideNetworkPolicy, whose own endpoints span namespaces, is not read here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from netpol_fix.engine.network import Network
from netpol_fix.inventory.build import NAME_LABEL
from netpol_fix.model.cilium_policy import (
    CNP_KIND,
    CiliumEndpoints,
    CiliumPolicy,
    CiliumRule,
    CiliumRuleSet,
)
from netpol_fix.model.objects import SourceObject
from netpol_fix.model.selectors import LabelSelector
from netpol_fix.rules.peer_evidence import Evidence


@dataclass(frozen=True)
class CiliumAllowing:
    """One rule set of a CiliumNetworkPolicy, as the allowing side of a gap."""

    policy: CiliumPolicy
    rule_set: CiliumRuleSet

    @property
    def key(self) -> str:
        if len(self.policy.rule_sets) == 1:
            return self.policy.key
        return f"{self.policy.key} specs[{self.rule_set.index}]"

    @property
    def namespace(self) -> str:
        return self.policy.namespace or ""

    @property
    def source(self) -> SourceObject | None:
        return self.policy.source

    @property
    def title(self) -> str:
        return f"{CNP_KIND} {self.key}"

    def rules_at(self, direction: str, indexes: frozenset[int]) -> list[CiliumRule]:
        return [r for r in self.rule_set.rules
                if r.direction == direction and not r.deny and r.index in indexes]


def allow_rules(net: Network, direction: str
                ) -> Iterator[tuple[CiliumAllowing, CiliumRule, int]]:
    """(rule set, allow rule, endpoints the rule set selects) of the enforced
    CiliumNetworkPolicies in `direction`."""
    tiers = net.tiers
    if tiers is None:
        return
    cilium = tiers.cilium
    for policy in cilium.policies:
        if policy.kind != CNP_KIND or not policy.namespace:
            continue
        for rule_set in policy.rule_sets:
            owns = cilium.selected_bits.get(id(rule_set), 0)
            if not owns:
                continue
            allowing = CiliumAllowing(policy, rule_set)
            for rule in rule_set.rules:
                if rule.direction == direction and not rule.deny:
                    yield allowing, rule, owns


def narrow_bits(net: Network, evidence: Evidence, rule: CiliumRule) -> int:
    """Endpoints that the rule's narrow endpoint selectors match."""
    if rule.all_peers:
        return 0
    assert net.tiers is not None
    bits = 0
    for selector in rule.endpoints:
        if is_narrow(evidence, selector):
            bits |= net.tiers.cilium.endpoint_bits(selector)
    return bits & net.pod_network


def is_narrow(evidence: Evidence, selector: CiliumEndpoints) -> bool:
    if selector.never or selector.namespace_selector is None:
        return False  # no pod, or every namespace
    return evidence.namespace_named(selector.namespace_selector) \
        and evidence.roles.names_workload(selector.pod_selector)


def raw_selector(selector: LabelSelector) -> dict[str, Any]:
    """A NetworkPolicy podSelector with the selector's requirements."""
    raw: dict[str, Any] = {}
    if selector.match_labels:
        raw["matchLabels"] = dict(selector.match_labels)
    if selector.match_expressions:
        raw["matchExpressions"] = [
            {"key": r.key, "operator": r.operator,
             **({"values": sorted(r.values)} if r.operator in ("In", "NotIn") else {})}
            for r in selector.match_expressions]
    return raw


def counterpart_rule(allowing: CiliumAllowing, direction: str, indexes: frozenset[int]
                     ) -> dict[str, Any] | None:
    """The NetworkPolicy rule in `direction` that mirrors the rule set's allow rules at
    `indexes` (of the other direction): to (or from) the endpoints the rule set selects,
    pinned by namespace name, on the ports they allow. None when a port cannot be written
    as a NetworkPolicy port (ICMP)."""
    other = "Ingress" if direction == "Egress" else "Egress"
    selector = allowing.rule_set.endpoint_selector
    if selector is None:
        return None
    ports: list[dict[str, Any]] = []
    every_port = False
    for rule in allowing.rules_at(other, indexes):
        if rule.icmp:
            return None
        if not rule.ports:
            every_port = True
            break
        for port in rule.ports:
            for protocol in port.protocols:
                item: dict[str, Any] = {"protocol": protocol}
                if port.name is not None:
                    item["port"] = port.name
                elif (port.first, port.last) != (1, 65535):
                    item["port"] = port.first
                    if port.last != port.first:
                        item["endPort"] = port.last
                if item not in ports:
                    ports.append(item)
    namespaces = {"matchLabels": {NAME_LABEL: allowing.namespace}}
    peer = {"namespaceSelector": namespaces, "podSelector": raw_selector(selector.pod_selector)}
    out: dict[str, Any] = {"to" if direction == "Egress" else "from": [peer]}
    if not every_port:
        out["ports"] = ports
    return out
