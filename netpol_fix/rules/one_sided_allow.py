"""one-sided-allow: one side names the other explicitly, the other side's policy denies it.

A connection needs the source's egress and the destination's ingress. Teams often write
only their own side: the database team admits the web pods, and the web team's
default-deny egress never lists the database. The explicit peer on one side is strong
evidence of intent, so the missing rule on the other side is the likely fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from netpol_fix.engine.connset import ConnSet
from netpol_fix.engine.network import Network, iter_bits
from netpol_fix.engine.policy import DIRECTIONS, NetworkPolicy, Peer
from netpol_fix.engine.policy import Rule as RuleSpec
from netpol_fix.engine.verdict import Explainer, Query
from netpol_fix.fixes.effect import flows_opened, patched_policies
from netpol_fix.fixes.flow import policy_to_edit
from netpol_fix.inventory.build import NAME_LABEL
from netpol_fix.rules.base import ERROR, UNSAFE, Finding, Fix, Patch, Rule, RuleDoc
from netpol_fix.rules.context import Context, endpoint_ref, suppressed
from netpol_fix.rules.missing_dns_egress import append_rule_operations

OTHER = {"Ingress": "Egress", "Egress": "Ingress"}


@dataclass
class Gap:
    """Flows that `allowing` (a policy of the other side) admits and `edit`'s side denies."""

    edit: NetworkPolicy
    direction: str
    """The direction of the rule to add to `edit`."""
    peer: int
    """An endpoint the new rule names (the other side of the connection)."""
    allowing: dict[str, NetworkPolicy] = field(default_factory=dict)
    """Other-side policies (by key) that explicitly admit the flow."""
    endpoints: set[int] = field(default_factory=set)
    """The endpoints on `edit`'s side whose traffic is dropped."""
    missing: ConnSet = field(default_factory=ConnSet.none)


@dataclass
class GapGroup:
    """The gaps of one policy to edit in one direction: one finding, one fix, each rule
    that fix appends once (an allowing policy selecting several pods of a namespace needs
    the same rule for all)."""

    edit: NetworkPolicy
    direction: str
    parts: list[Gap] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)
    """The rules to append to `edit`."""
    _rule_keys: set[str] = field(default_factory=set, repr=False)

    def add(self, gap: Gap, rules: list[dict[str, Any]]) -> None:
        self.parts.append(gap)
        for rule in rules:
            key = json.dumps(rule, sort_keys=True)
            if key not in self._rule_keys:
                self._rule_keys.add(key)
                self.rules.append(rule)

    @property
    def peers(self) -> list[int]:
        return [gap.peer for gap in self.parts]

    @property
    def endpoints(self) -> set[int]:
        return set().union(*(gap.endpoints for gap in self.parts))

    @property
    def allowing(self) -> dict[str, NetworkPolicy]:
        return {key: policy for gap in self.parts for key, policy in gap.allowing.items()}


def is_explicit(peer: Peer) -> bool:
    """A peer that names someone: not `namespaceSelector: {}` (every pod) nor a bare
    `podSelector: {}` (every pod of the namespace): those admit whoever comes."""
    if peer.ip_block is not None:
        return False
    ns, pod = peer.namespace_selector, peer.pod_selector
    return not ((ns is None or ns.is_empty) and (pod is None or pod.is_empty))


def explicit_bits(net: Network, policy: NetworkPolicy, rule: RuleSpec) -> int:
    """Endpoints that the rule's explicit peers match."""
    bits = 0
    for peer in rule.peers:
        if is_explicit(peer):
            bits |= net.peer_bits(policy, peer)
    return bits


def explicit_ports(net: Network, policy: NetworkPolicy, direction: str, other: int
                   ) -> list[dict[str, Any]] | None:
    """The raw ports of `policy`'s rules whose explicit peers match `other` (None: some such
    rule has no ports, i.e. every port): what the rule on the other side copies."""
    ports: list[dict[str, Any]] = []
    raw_rules = ((policy.source.obj.get("spec") or {}).get(direction.lower()) or []) \
        if policy.source else []
    for rule in policy.rules(direction):
        if not explicit_bits(net, policy, rule) >> other & 1:
            continue
        raw = raw_rules[rule.index] if rule.index < len(raw_rules) else None
        raw_ports = raw.get("ports") if isinstance(raw, dict) else None
        if not raw_ports:
            return None
        ports += [p for p in raw_ports if p not in ports]
    return ports


class OneSidedAllow(Rule):
    id = "one-sided-allow"
    severity = ERROR
    applicability = UNSAFE
    summary = "One side explicitly allows a connection that the other side's policy denies"
    doc = RuleDoc(
        why=(
            "Traffic between two pods passes only if the source's egress and the "
            "destination's ingress both allow it. When the destination's ingress rule names "
            "the source explicitly (a podSelector or namespaceSelector peer, not a rule open "
            "to everyone) but the source is isolated for egress and no egress rule admits the "
            "destination on those ports, the connection is dropped at the source, and the "
            "team that wrote the ingress rule sees no reason for it. The mirror case (an "
            "explicit egress rule, a denying ingress side) is the same."),
        example=(
            "# in namespace db: ingress from web on 5432\n"
            "ingress:\n- from: [{namespaceSelector: {matchLabels: "
            "{kubernetes.io/metadata.name: shop}}, podSelector: {matchLabels: {app: web}}}]\n"
            "  ports: [{port: 5432}]\n"
            "# in namespace shop: default-deny egress, no rule to the db pods"),
        fix=(
            "Append to the policy that isolates the denying side one rule for exactly that "
            "flow: to (or from) the peer's namespace by `kubernetes.io/metadata.name` and the "
            "labels the other side's policy selects its pods with, on the ports the other "
            "side allows. Nothing wider than the other side's own rule."),
        unsafe=(
            "Unsafe: the denial may be deliberate (the owner of the denying side decided "
            "against the connection), and the new rule also admits every pod those labels "
            "select, listed in the fix's `opens`."),
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        net = ctx.network
        gaps: dict[tuple[str, str, int], Gap] = {}
        governed = net.all
        for i, endpoint in enumerate(net.endpoints):
            if endpoint.host_network:
                governed &= ~(1 << i)
        denied_cache: dict[tuple[str, int, int], ConnSet] = {}
        # Only pairs that an explicit peer names can have a gap: walk the policies and
        # their explicit peers instead of every pair of endpoints.
        for allowing_side in DIRECTIONS:
            edit_side = OTHER[allowing_side]
            for policy in net.inventory.policies:
                if not policy.isolates(allowing_side):
                    continue
                named_by = [(rule, explicit_bits(net, policy, rule))
                            for rule in policy.rules(allowing_side)]
                named = 0
                for _, bits in named_by:
                    named |= bits
                # the other side's policies admit everything unless it is isolated
                others = [o for o in iter_bits(named & governed) if net.isolated(o, edit_side)]
                for own in iter_bits(net.selected(policy) & governed if others else 0):
                    for other in others:
                        if own == other:
                            continue
                        src, dst = (other, own) if allowing_side == "Ingress" else (own, other)
                        conns = net.rules_conns(
                            [rule for rule, bits in named_by if bits >> other & 1],
                            net.endpoints[dst].ports)
                        key = (edit_side, src, dst)
                        denied = denied_cache.get(key)
                        if denied is None:
                            denied = net.egress_conns(src, dst) if edit_side == "Egress" \
                                else net.ingress_conns(src, dst)
                            denied_cache[key] = denied
                        missing = conns - denied
                        if missing:
                            self._add_gap(net, policy, edit_side, own, other, missing, gaps)
        findings = []
        for group in self._grouped(ctx, gaps.values()):
            if suppressed(self.id, group.edit.source) or any(
                    suppressed(self.id, p.source) for p in group.allowing.values()):
                continue
            findings.append(self._finding(ctx, group))
        return findings

    def _grouped(self, ctx: Context, gaps: Iterable[Gap]) -> list[GapGroup]:
        """One group per policy to edit and direction: one finding says everything that
        the policy denies and other sides explicitly allow, and its one fix appends the
        rules for all of it. Per pair findings would bury a repository whose default-deny
        egress forgot its peers under thousands of lines."""
        groups: dict[tuple[str, str], GapGroup] = {}
        for gap in sorted(gaps, key=lambda g: (g.edit.key, g.direction, g.peer)):
            group = groups.setdefault((gap.edit.key, gap.direction),
                                      GapGroup(gap.edit, gap.direction))
            group.add(gap, self._new_rules(ctx, gap))
        return list(groups.values())

    @staticmethod
    def _add_gap(net: Network, policy: NetworkPolicy, edit_side: str, own: int, other: int,
                 missing: ConnSet, gaps: dict[tuple[str, str, int], Gap]) -> None:
        """Record that `policy` (selecting `own`) explicitly admits flows to or from
        `other`, of which `other`'s side (`edit_side`) denies `missing`."""
        edit = policy_to_edit(net, other, edit_side)
        gap = gaps.setdefault((edit.key, edit_side, own), Gap(edit, edit_side, own))
        gap.allowing[policy.key] = policy
        gap.endpoints.add(other)
        gap.missing = gap.missing | missing

    def _new_rules(self, ctx: Context, gap: Gap) -> list[dict[str, Any]]:
        net = ctx.network
        peer_endpoint = net.endpoints[gap.peer]
        rules = []
        for _, policy in sorted(gap.allowing.items()):
            ports = explicit_ports(net, policy, OTHER[gap.direction], min(gap.endpoints))
            raw_selector = (policy.source.obj.get("spec") or {}).get("podSelector") \
                if policy.source else None
            peer = {"namespaceSelector": {"matchLabels": {NAME_LABEL: peer_endpoint.namespace}},
                    "podSelector": raw_selector or {}}
            rule: dict[str, Any] = {"to" if gap.direction == "Egress" else "from": [peer]}
            if ports is not None:
                rule["ports"] = ports
            if rule not in rules:
                rules.append(rule)
        return rules

    def _fix(self, ctx: Context, group: GapGroup) -> Fix | None:
        if group.edit.source is None or any(p.source is None for p in group.allowing.values()):
            return None
        rules = group.rules
        operations = append_rule_operations(group.edit, group.direction, rules[0])
        field_name = group.direction.lower()
        operations += [{"op": "add", "path": f"/spec/{field_name}/-", "value": r}
                       for r in rules[1:]]
        patch = Patch(group.edit.ref, operations, group.edit.source)
        opens = flows_opened(ctx.network, patched_policies(ctx.inventory, [patch]))
        peers = _listed([endpoint_ref(ctx.network.endpoints[i]) for i in group.peers])
        return Fix(UNSAFE, f"append {len(rules)} {field_name} rule(s) to NetworkPolicy "
                           f"{group.edit.key} {'to' if group.direction == 'Egress' else 'from'} "
                           f"{peers} on the ports the other side allows", [patch], [], opens)

    def _finding(self, ctx: Context, group: GapGroup) -> Finding:
        net = ctx.network
        first = group.parts[0]
        direction = group.direction.lower()
        allowing = _listed(sorted(group.allowing))
        allowing_side = OTHER[group.direction].lower()
        if len(group.parts) == 1:
            own = sorted(first.endpoints)
            names = _listed([net.endpoints[i].key for i in own])
            message = (f"{allowing_side} of NetworkPolicy {allowing} explicitly allows "
                       f"{_flows(net, first)}, but NetworkPolicy {group.edit.key} isolates "
                       f"{names} for {direction} and no {direction} rule admits it")
        else:
            flows = _listed([_flows(net, part) for part in group.parts], shown=2)
            message = (f"{allowing_side} of NetworkPolicy {allowing} explicitly allows "
                       f"{len(group.parts)} flows that NetworkPolicy {group.edit.key} denies "
                       f"for {direction} ({flows}); no {direction} rule admits them")
        message += self._reason(net, first)
        affected = sorted({endpoint_ref(net.endpoints[i]) for i in group.endpoints})
        affected += sorted({endpoint_ref(net.endpoints[i]) for i in group.peers} - set(affected))
        return Finding(self.id, self.severity, group.edit.ref, group.edit.source, message,
                       affected, self._fix(ctx, group))

    @staticmethod
    def _reason(net: Network, gap: Gap) -> str:
        """Why the denying side denies the first missing port, as `explain` says it."""
        first_port = next(iter(gap.missing.ranges().items()), None)
        if first_port is None:
            return ""
        protocol, ranges = first_port
        own = min(gap.endpoints)
        src, dst = (own, gap.peer) if gap.direction == "Egress" else (gap.peer, own)
        verdict = Explainer(net).explain_pods(src, dst, Query(ranges[0][0], protocol))
        side = verdict.egress if gap.direction == "Egress" else verdict.ingress
        reasons = [f"{c.rule}: {c.reason}" for c in side.checks if not c.admits]
        return f" ({'; '.join(reasons[:3])})" if reasons else ""


def _flows(net: Network, gap: Gap) -> str:
    """`TCP 5432 from shop/web[Deployment] to db/postgres[StatefulSet]` for one gap."""
    names = _listed([net.endpoints[i].key for i in sorted(gap.endpoints)])
    peer = net.endpoints[gap.peer].key
    ends = f"from {names} to {peer}" if gap.direction == "Egress" else f"from {peer} to {names}"
    return f"{gap.missing.describe()} {ends}"


def _listed(names: list[str], shown: int = 3) -> str:
    """`a, b, c and 4 more`: a message stays readable when a rule names many pods."""
    if len(names) <= shown + 1:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"
