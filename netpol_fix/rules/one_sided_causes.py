"""Specific causes of a one-sided denial, so that one cause makes one finding.

one-sided-allow reports what one side explicitly allows and the other side denies. Often
a more specific rule already says why the other side denies it: its peer's
namespaceSelector matches no namespace (namespace-selector-unmatched), its podSelector
peer looks only in its own namespace (pod-selector-own-namespace), an egress-only policy
without policyTypes also isolates ingress (policy-types-missing), its rules for that
direction are ignored because policyTypes leaves the direction out
(egress-rules-ignored / ingress-rules-ignored), or the flow is a DNS lookup
(missing-dns-egress). Those rules' findings carry the fix that restores the intent (the
dead peer corrected, not a second rule beside it), so one-sided-allow leaves such flows
to them when they run in the same analysis.
"""

from __future__ import annotations

from netpol_fix.engine.network import Network
from netpol_fix.model.connset import ConnSet
from netpol_fix.model.policy import NetworkPolicy, Peer
from netpol_fix.rules.context import Context
from netpol_fix.rules.namespace_selector_unmatched import candidate_values, named_namespaces

DNS = "missing-dns-egress"
NAMESPACE_UNMATCHED = "namespace-selector-unmatched"
OWN_NAMESPACE = "pod-selector-own-namespace"
TYPES_MISSING = "policy-types-missing"
IGNORED = {"Egress": "egress-rules-ignored", "Ingress": "ingress-rules-ignored"}


class SpecificCauses:
    """For a denied flow between `own` (whose policy explicitly allows it) and `other`
    (whose `side` denies it): the part of the missing connections a specific rule that
    runs in this analysis explains."""

    def __init__(self, ctx: Context) -> None:
        self.net: Network = ctx.network
        running = ctx.running
        self._on = (lambda rule_id: True) if running is None \
            else (lambda rule_id: rule_id in running)
        self._dns_bits = 0
        self._dns_conns = ConnSet.none()
        if self._on(DNS):
            for i in ctx.dns_endpoints():
                self._dns_bits |= 1 << i
            port = ctx.dns.port
            self._dns_conns = ConnSet.ports("UDP", port) | ConnSet.ports("TCP", port)
        # policies whose rules for a direction policyTypes leaves out: (selected, policy)
        self._ignored: dict[str, list[tuple[int, NetworkPolicy]]] = {}
        for direction, rule_id in IGNORED.items():
            if not self._on(rule_id):
                continue
            self._ignored[direction] = [
                (self.net.selected(policy), policy) for policy in ctx.inventory.policies
                if policy.policy_types_explicit and not policy.isolates(direction)
                and policy.rules(direction)]
        self._implicit: dict[int, bool] = {}

    def explained(self, own: int, other: int, side: str, missing: ConnSet) -> ConnSet:
        """The part of `missing` (what `other`'s `side` denies) that a specific cause
        explains; `ConnSet.none()` when none does."""
        net = self.net
        if side == "Egress" and self._dns_bits >> own & 1:
            explained = missing & self._dns_conns
            if explained == missing:
                return missing
        else:
            explained = ConnSet.none()
        if side == "Ingress" and self._on(TYPES_MISSING) and self._types_missing(other):
            return missing
        dst = other if side == "Ingress" else own
        ports = net.endpoints[dst].ports
        for selected, policy in self._ignored.get(side, ()):
            if selected >> other & 1:
                for rule in policy.rules(side):
                    if net.rule_peer_bits(policy, rule) >> own & 1:
                        explained = explained | (missing & rule.conns_for(ports))
        for policy in net.policies_for(other, side):
            for rule in policy.rules(side):
                if self._dead_peer_names(policy, rule.peers, own):
                    explained = explained | (missing & rule.conns_for(ports))
        return explained

    def _types_missing(self, other: int) -> bool:
        """Every policy isolating `other` for ingress is an egress-only policy whose
        omitted policyTypes the API defaults to [Ingress, Egress]."""
        known = self._implicit.get(other)
        if known is None:
            # (none at all: a side only Cilium isolates has no policyTypes to blame)
            policies = self.net.policies_for(other, "Ingress")
            known = self._implicit[other] = bool(policies) and all(
                not policy.policy_types_explicit and not policy.ingress and bool(policy.egress)
                for policy in policies)
        return known

    def _dead_peer_names(self, policy: NetworkPolicy, peers: tuple[Peer, ...], own: int
                         ) -> bool:
        """A peer that would match `own` but for a specific mistake: a namespaceSelector
        that matches no namespace although it names `own`'s namespace, or a podSelector
        without namespaceSelector that matches no pod of its own namespace and `own`'s
        labels in another namespace."""
        net = self.net
        endpoint = net.endpoints[own]
        for peer in peers:
            if peer.ip_block is not None:
                continue
            if peer.pod_selector is not None and not peer.pod_selector.matches(endpoint.labels):
                continue
            selector = peer.namespace_selector
            if selector is None:
                # as pod-selector-own-namespace finds it: the selector matches no pod of
                # the policy's namespace (so it was meant for pods elsewhere)
                if self._on(OWN_NAMESPACE) and peer.pod_selector is not None \
                        and not peer.pod_selector.is_empty \
                        and endpoint.namespace != policy.namespace \
                        and not net.peer_bits(policy, peer):
                    return True
                continue
            if not self._on(NAMESPACE_UNMATCHED) or net.namespaces_matching(selector):
                continue
            named = named_namespaces(selector)
            if named and not named & set(net.namespace_names):
                continue  # names namespaces outside the sources: the rule says nothing
            if endpoint.namespace in candidate_values(selector):
                return True
        return False
