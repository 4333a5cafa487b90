"""tier-overrides-allow: a higher tier silently overrides a NetworkPolicy's allow.

An AdminNetworkPolicy Deny "cannot be overridden" by NetworkPolicy, and a Cilium deny rule
"takes precedence over allow policies ... even a Kubernetes Network Policy". A namespace
owner who writes an allow for a named peer sees nothing in their own manifests that says
it never takes effect: the connection times out and `kubectl describe networkpolicy`
shows the allow. The finding names the overriding policy and rule (from the engine's
chain), the NetworkPolicy whose allow is shadowed, and the flows. No fix: the deny is the
platform team's decision; the finding is for the two owners to talk.

Only NetworkPolicy rules that name their peers (a non-empty pod or namespace selector) are
evidence of intent, as in one-sided-allow; an allow-all rule that an admin deny narrows is
the tiers working as designed.
"""

from __future__ import annotations

from collections.abc import Iterable

from netpol_fix.engine.network import iter_bits
from netpol_fix.engine.verdict import Explainer, Query
from netpol_fix.model.admin_policy import ADMIN_TIER, DENY
from netpol_fix.model.connset import PROTOCOLS, ConnSet, iter_ranges
from netpol_fix.model.findings import NONE, WARNING, Finding
from netpol_fix.model.objects import endpoint_ref
from netpol_fix.model.policy import DIRECTIONS, NetworkPolicy, Rule
from netpol_fix.rules.base import Rule as BaseRule
from netpol_fix.rules.base import RuleDoc
from netpol_fix.rules.context import Context, suppressed

MAX_LISTED = 8


def _explicit(rule: Rule) -> bool:
    return bool(rule.peers) and any(
        p.ip_block is None and ((p.pod_selector is not None and not p.pod_selector.is_empty)
                                or (p.namespace_selector is not None
                                    and not p.namespace_selector.is_empty))
        for p in rule.peers)


def _first_port(conns: ConnSet) -> tuple[str, int]:
    for protocol in PROTOCOLS:
        for first, _last in iter_ranges(conns.bits(protocol)):
            return protocol, first
    return "TCP", 1


class TierOverridesAllow(BaseRule):
    id = "tier-overrides-allow"
    severity = WARNING
    applicability = NONE
    summary = ("An AdminNetworkPolicy Deny or a Cilium deny rule overrides a NetworkPolicy "
               "allow: the namespace owner's allow never takes effect")
    doc = RuleDoc(
        why=(
            "AdminNetworkPolicy rules are evaluated before NetworkPolicy, and a Deny \"cannot "
            "be overridden\"; Cilium deny rules take precedence over every allow, Kubernetes "
            "NetworkPolicy included. A NetworkPolicy that explicitly allows a peer looks "
            "correct to its owner while the connection is dropped by a policy they may not "
            "see (cluster-scoped, or in another repository)."),
        example=(
            "kind: AdminNetworkPolicy\nspec:\n  priority: 10\n  subject: {namespaces: {}}\n"
            "  ingress:\n  - {name: no-monitoring, action: Deny, from: [{namespaces: "
            "{matchLabels: {team: mon}}}]}\n---\nkind: NetworkPolicy  # in shop: allows "
            "team=mon, never takes effect"),
        fix=("None: agree with the platform team; either the admin policy Passes or Allows "
             "this traffic, or the NetworkPolicy's rule is removed."),
        unsafe="No fix is proposed.",
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        net = ctx.network
        tiers = net.tiers
        if tiers is None:
            return []
        explainer = Explainer(net)
        groups: dict[tuple[int, int, str], tuple[object, NetworkPolicy, str, str,
                                                 list[str], list[str]]] = {}
        for i in range(net.size):
            for direction in DIRECTIONS:
                denying, deny_conns = self._deny_bits(ctx, i, direction)
                if not denying:
                    continue
                for policy in net.policies_for(i, direction):
                    for rule in policy.rules(direction):
                        if not _explicit(rule):
                            continue
                        peers = net.rule_peer_bits(policy, rule) & denying & ~(1 << i)
                        if not peers:
                            continue
                        if not rule.has_named_ports and direction == "Egress" \
                                and not rule.numeric_conns() & deny_conns:
                            continue  # the denies are on other ports
                        if direction == "Ingress" and not net.rules_conns(
                                [rule], net.endpoints[i].ports) & deny_conns:
                            continue
                        row = net.side_conns(i, direction, peers)
                        for j in iter_bits(peers):
                            ports = net.endpoints[i if direction == "Ingress" else j].ports
                            lost = net.rules_conns([rule], ports) - row[j]
                            if not lost:
                                continue
                            protocol, port = _first_port(lost)
                            s, d = (j, i) if direction == "Ingress" else (i, j)
                            verdict = explainer.explain_pods(s, d, Query(port, protocol))
                            side = verdict.ingress if direction == "Ingress" else verdict.egress
                            step = next((t for t in (side.tiers.steps if side.tiers else [])
                                         if t.decision in ("Deny", "denied")), None)
                            if step is None or step.policy is None or step.rule is None:
                                continue
                            key = (id(step.policy), id(policy), direction)
                            entry = groups.setdefault(key, (step.policy, policy, step.text(),
                                                            step.location or "", [], []))
                            affected = endpoint_ref(net.endpoints[i])
                            if affected not in entry[5]:
                                entry[5].append(affected)
                            flow = (f"{endpoint_ref(net.endpoints[s])} -> "
                                    f"{endpoint_ref(net.endpoints[d])} {lost.describe()}")
                            if flow not in entry[4]:
                                entry[4].append(flow)
        findings = []
        for overriding, policy, step_text, where, flows, affected_refs in groups.values():
            source = getattr(overriding, "source", None)
            if suppressed(self.id, source) or suppressed(self.id, policy.source):
                continue
            listed = "; ".join(flows[:MAX_LISTED])
            more = f" (and {len(flows) - MAX_LISTED} more)" if len(flows) > MAX_LISTED else ""
            at = f" at {where}" if where else ""
            message = (f"NetworkPolicy {policy.key} allows {len(flows)} flow(s) that "
                       f"{overriding} denies first ({step_text}{at}): the allow never takes "
                       f"effect: {listed}{more}")
            findings.append(Finding(self.id, self.severity, policy.ref, policy.source,
                                    message, affected_refs, None))
        return findings

    @staticmethod
    def _deny_bits(ctx: Context, index: int, direction: str) -> tuple[int, ConnSet]:
        """The other ends a Deny of the admin tier or a Cilium deny rule on this side can
        match, and the connections those rules name (nothing else overrides a
        NetworkPolicy's allow): keeps the rule cheap."""
        net = ctx.network
        tiers = net.tiers
        assert tiers is not None
        ports = net.endpoints[index].ports if direction == "Ingress" else ()
        bits, conns = 0, ConnSet.none()
        for tier_rule in tiers.row(ADMIN_TIER, direction, index):
            if tier_rule.rule.action == DENY:
                bits |= tiers.rule_bits(tier_rule.rule)
                conns = conns | (ConnSet.all() if tier_rule.rule.has_named_ports
                                 else tier_rule.rule.conns_for(ports))
        for _policy, rule in tiers.cilium.rows[direction][index]:
            if rule.deny:
                bits |= tiers.cilium.rule_bits(rule)
                conns = conns | (ConnSet.all() if rule.has_named_ports
                                 else rule.conns_for(ports))
        return bits, conns
