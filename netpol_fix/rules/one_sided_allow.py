"""one-sided-allow: one side names the other explicitly, the other side's policy denies it.

A connection needs the source's egress and the destination's ingress. Teams often write
only their own side: the database team admits the web pods, and the web team's
default-deny egress never lists the database. The explicit peer on one side is strong
evidence of intent, so the missing rule on the other side is the likely fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
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
    allowing: dict[str, tuple[NetworkPolicy, ConnSet]] = field(default_factory=dict)
    """Other-side policies (by key) that explicitly admit the flow, with what they admit."""
    endpoints: set[int] = field(default_factory=set)
    """The endpoints on `edit`'s side whose traffic is dropped."""
    missing: ConnSet = field(default_factory=ConnSet.none)
    peers: list[int] = field(default_factory=list)
    """Every endpoint the new rules name: gaps whose new rules are the same are merged."""
    rules: list[dict[str, Any]] = field(default_factory=list)
    """The rules to append to `edit`."""
    parts: list[Gap] = field(default_factory=list)
    """The per-peer gaps a merged gap is made of."""


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


def explicit_conns(net: Network, policy: NetworkPolicy, direction: str, own: int,
                   other: int) -> tuple[ConnSet, list[dict[str, Any]] | None]:
    """What `policy`'s rules with an explicit peer matching `other` admit, and their raw
    ports (None: some admitting rule has no ports, i.e. every port)."""
    conns = ConnSet.none()
    ports: list[dict[str, Any]] | None = []
    dst = own if direction == "Ingress" else other
    raw_rules = ((policy.source.obj.get("spec") or {}).get(direction.lower()) or []) \
        if policy.source else []
    for rule in policy.rules(direction):
        if not any(is_explicit(p) and net.peer_bits(policy, p) >> other & 1 for p in rule.peers):
            continue
        conns = conns | rule.conns_for(net.endpoints[dst].ports)
        raw = raw_rules[rule.index] if rule.index < len(raw_rules) else None
        raw_ports = raw.get("ports") if isinstance(raw, dict) else None
        if not raw_ports:
            ports = None
        elif ports is not None:
            ports += [p for p in raw_ports if p not in ports]
    return conns, ports


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
                            self._add_gap(net, policy, edit_side, own, other, conns, missing,
                                          gaps)
        findings = []
        for gap in self._merged(ctx, gaps.values()):
            if not gap.missing or suppressed(self.id, gap.edit.source) or any(
                    suppressed(self.id, p.source) for p, _ in gap.allowing.values()):
                continue
            findings.append(self._finding(ctx, gap))
        return findings

    def _merged(self, ctx: Context, gaps: Iterable[Gap]) -> list[Gap]:
        """One gap per policy to edit and direction: one finding says everything that the
        policy denies and other sides explicitly allow, and its one fix appends the rules
        for all of it (each rule once: an allowing policy that selects several pods of a
        namespace needs the same rule for all). Per pair findings would bury a repository
        whose default-deny egress forgot its peers under thousands of lines."""
        merged: dict[tuple[str, str], Gap] = {}
        seen: dict[tuple[str, str], set[str]] = {}
        for gap in sorted(gaps, key=lambda g: (g.edit.key, g.direction, g.peer)):
            rules = self._new_rules(ctx, gap)
            key = (gap.edit.key, gap.direction)
            into = merged.get(key)
            if into is None:
                into = merged[key] = replace(gap, allowing={}, endpoints=set(), peers=[],
                                             rules=[], parts=[])
            into.parts.append(gap)
            into.peers.append(gap.peer)
            into.allowing.update(gap.allowing)
            into.endpoints |= gap.endpoints
            into.missing = into.missing | gap.missing
            for rule in rules:
                if _rule_key(rule) not in seen.setdefault(key, set()):
                    seen[key].add(_rule_key(rule))
                    into.rules.append(rule)
        return list(merged.values())

    @staticmethod
    def _add_gap(net: Network, policy: NetworkPolicy, edit_side: str, own: int, other: int,
                 conns: ConnSet, missing: ConnSet, gaps: dict[tuple[str, str, int], Gap]
                 ) -> None:
        """Record that `policy` (selecting `own`) explicitly admits `conns` to or from
        `other`, of which `other`'s side (`edit_side`) denies `missing`."""
        edit = policy_to_edit(net, other, edit_side)
        gap = gaps.setdefault((edit.key, edit_side, own), Gap(edit, edit_side, own))
        gap.allowing[policy.key] = (policy, conns)
        gap.endpoints.add(other)
        gap.missing = gap.missing | missing

    def _new_rules(self, ctx: Context, gap: Gap) -> list[dict[str, Any]]:
        net = ctx.network
        peer_endpoint = net.endpoints[gap.peer]
        rules = []
        for policy, _ in sorted(gap.allowing.values(), key=lambda a: a[0].key):
            own = next(iter(sorted(gap.endpoints)))
            _, ports = explicit_conns(net, policy, OTHER[gap.direction], gap.peer, own)
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

    def _fix(self, ctx: Context, gap: Gap) -> Fix | None:
        if gap.edit.source is None or any(p.source is None for p, _ in gap.allowing.values()):
            return None
        rules = gap.rules
        operations = append_rule_operations(gap.edit, gap.direction, rules[0])
        field_name = gap.direction.lower()
        operations += [{"op": "add", "path": f"/spec/{field_name}/-", "value": r}
                       for r in rules[1:]]
        patch = Patch(gap.edit.ref, operations, gap.edit.source)
        opens = flows_opened(ctx.network, patched_policies(ctx.inventory, [patch]))
        peers = _listed([endpoint_ref(ctx.network.endpoints[i]) for i in gap.peers])
        return Fix(UNSAFE, f"append {len(rules)} {field_name} rule(s) to NetworkPolicy "
                           f"{gap.edit.key} {'to' if gap.direction == 'Egress' else 'from'} "
                           f"{peers} on the ports the other side allows", [patch], [], opens)

    def _finding(self, ctx: Context, gap: Gap) -> Finding:
        net = ctx.network
        first = gap.parts[0] if gap.parts else gap
        direction = gap.direction.lower()
        allowing = _listed(sorted(gap.allowing))
        allowing_side = OTHER[gap.direction].lower()
        if len(gap.parts) <= 1:
            own = sorted(first.endpoints)
            names = _listed([net.endpoints[i].key for i in own])
            message = (f"{allowing_side} of NetworkPolicy {allowing} explicitly allows "
                       f"{_flows(net, first)}, but NetworkPolicy {gap.edit.key} isolates "
                       f"{names} for {direction} and no {direction} rule admits it")
        else:
            flows = _listed([_flows(net, part) for part in gap.parts], shown=2)
            message = (f"{allowing_side} of NetworkPolicy {allowing} explicitly allows "
                       f"{len(gap.parts)} flows that NetworkPolicy {gap.edit.key} denies "
                       f"for {direction} ({flows}); no {direction} rule admits them")
        message += self._reason(net, first)
        affected = sorted({endpoint_ref(net.endpoints[i]) for i in gap.endpoints})
        affected += sorted({endpoint_ref(net.endpoints[i]) for i in gap.peers} - set(affected))
        return Finding(self.id, self.severity, gap.edit.ref, gap.edit.source, message,
                       affected, self._fix(ctx, gap))

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


def _rule_key(rule: dict[str, Any]) -> str:
    return json.dumps(rule, sort_keys=True)


def _listed(names: list[str], shown: int = 3) -> str:
    """`a, b, c and 4 more`: a message stays readable when a rule names many pods."""
    if len(names) <= shown + 1:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"
