"""The CiliumNetworkPolicy that isolates a denying side no NetworkPolicy isolates.

Cilium's policy language reference ("Endpoint default policy"): an endpoint is open in a
direction until a rule set selecting it has rules for that direction, then default deny
for it ("a rule with an ingress section affects ingress"), unless `enableDefaultDeny`
turns that off. When a NetworkPolicy also isolates the side, one-sided-allow edits the
NetworkPolicy as before; when only Cilium rule sets do, the rule set to edit is the one a
fix reads as the owner's: a namespaced CiliumNetworkPolicy (a cluster-wide one is the
platform's) with allow rules for the direction and a specific endpointSelector first, so
that a namespace's `endpointSelector: {}` default deny stays a pure deny.
"""

from __future__ import annotations

from dataclasses import dataclass

from netpol_fix.engine.network import Network
from netpol_fix.model.cilium_policy import CNP_KIND, CiliumPolicy, CiliumRuleSet
from netpol_fix.model.objects import ObjectRef, SourceObject
from netpol_fix.model.selectors import LabelSelector


@dataclass(frozen=True)
class CiliumEdit:
    """One rule set of a Cilium policy that puts the denying side in default deny."""

    policy: CiliumPolicy
    rule_set: CiliumRuleSet

    @property
    def key(self) -> str:
        return self.policy.key

    @property
    def title(self) -> str:
        where = f" specs[{self.rule_set.index}]" if len(self.policy.rule_sets) > 1 else ""
        return f"{self.policy.kind} {self.policy.key}{where}"

    @property
    def namespace(self) -> str:
        return self.policy.namespace or ""

    @property
    def source(self) -> SourceObject | None:
        return self.policy.source

    @property
    def ref(self) -> ObjectRef:
        return self.policy.ref

    @property
    def appendable(self) -> bool:
        """A namespaced CiliumNetworkPolicy read from the sources: rules can go into it."""
        return self.policy.kind == CNP_KIND and self.policy.source is not None \
            and self.rule_set.endpoint_selector is not None

    @property
    def pod_selector(self) -> LabelSelector | None:
        selector = self.rule_set.endpoint_selector
        return None if selector is None else selector.pod_selector


def cilium_edit_for(net: Network, index: int, direction: str) -> CiliumEdit | None:
    """The Cilium rule set to edit for endpoint `index`'s side (see the module docstring),
    None when no Cilium rule set puts it in default deny for `direction`."""
    tiers = net.tiers
    if tiers is None:
        return None
    cilium = tiers.cilium
    candidates: list[tuple[tuple[bool, bool, bool, str, int], CiliumEdit]] = []
    for policy in cilium.isolating[direction][index]:
        for rule_set in policy.rule_sets:
            if not rule_set.default_deny.get(direction) \
                    or not cilium.selected_bits.get(id(rule_set), 0) >> index & 1:
                continue
            allows = any(r.direction == direction and not r.deny for r in rule_set.rules)
            selector = rule_set.endpoint_selector
            broad = selector is None or selector.pod_selector.is_empty
            rank = (policy.kind != CNP_KIND, not allows, broad, policy.key, rule_set.index)
            candidates.append((rank, CiliumEdit(policy, rule_set)))
    if not candidates:
        return None
    return min(candidates, key=lambda item: item[0])[1]
