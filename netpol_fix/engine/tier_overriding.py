"""What the tiers above the NetworkPolicy rules drop on one side of one pair.

An AdminNetworkPolicy Deny decides before any NetworkPolicy ("the first matching rule of
the highest-priority policy decides"), and a Cilium deny rule beats every allow of the
NetworkPolicy tier (Cilium's policy language reference, "Deny Policies": deny policies
take precedence over allow policies). Connections they drop cannot be opened by a
NetworkPolicy rule: a fix that adds one would open nothing, so a rule that finds such a
drop names the deciding rule instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netpol_fix.model.admin_policy import ADMIN_TIER, DENY, AdminPolicy
from netpol_fix.model.cilium_policy import CiliumPolicy
from netpol_fix.model.connset import ConnSet

if TYPE_CHECKING:
    from netpol_fix.engine.network import Network

NONE = ConnSet.none()


def overriding_denied(net: Network, index: int, direction: str, other: int
                      ) -> tuple[ConnSet, list[tuple[AdminPolicy | CiliumPolicy, str]]]:
    """Connections between endpoint `index` (this side) and `other` that an admin-tier
    Deny (not decided by an earlier Allow or Pass) or a Cilium deny rule drops on this
    side, and (policy, rule label) of the rules that drop them."""
    tiers = net.tiers
    if tiers is None:
        return NONE, []
    dst = index if direction == "Ingress" else other
    ports = net.endpoints[dst].ports
    decided = denied = NONE
    deciding: list[tuple[AdminPolicy | CiliumPolicy, str]] = []
    for tier_rule in tiers.row(ADMIN_TIER, direction, index):
        if not tiers.rule_bits(tier_rule.rule) >> other & 1:
            continue
        conns = tier_rule.rule.conns_for(ports)
        fresh = conns - decided
        if tier_rule.rule.action == DENY and fresh:
            denied = denied | fresh
            deciding.append((tier_rule.policy, tier_rule.rule.label))
        decided = decided | conns
    for policy, rule in tiers.cilium.rows[direction][index]:
        if rule.deny and tiers.cilium.rule_bits(rule) >> other & 1:
            conns = rule.conns_for(ports)
            if conns - denied:
                deciding.append((policy, rule.label))
            denied = denied | conns
    return denied, deciding
