"""one-sided-allow: one side names the other explicitly, the other side's policy denies it.

A connection needs the source's egress and the destination's ingress. Teams often write
only their own side: the database team admits the web pods, and the web team's
default-deny egress never lists the database. The explicit peer on one side is strong
evidence of intent, so the missing rule on the other side is the likely fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from netpol_fix.engine.connset import ConnSet
from netpol_fix.engine.network import Network
from netpol_fix.engine.policy import NetworkPolicy, Peer
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
    """The endpoint the new rule names (the other side of the connection)."""
    allowing: dict[str, tuple[NetworkPolicy, ConnSet]] = field(default_factory=dict)
    """Other-side policies (by key) that explicitly admit the flow, with what they admit."""
    endpoints: set[int] = field(default_factory=set)
    """The endpoints on `edit`'s side whose traffic is dropped."""
    missing: ConnSet = field(default_factory=ConnSet.none)


def is_explicit(peer: Peer) -> bool:
    """A peer that names someone: not `namespaceSelector: {}` (every pod) nor a bare
    `podSelector: {}` (every pod of the namespace): those admit whoever comes."""
    if peer.ip_block is not None:
        return False
    ns, pod = peer.namespace_selector, peer.pod_selector
    return not ((ns is None or ns.is_empty) and (pod is None or pod.is_empty))


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
        governed = [i for i in range(net.size) if not net.endpoints[i].host_network]
        for src in governed:
            for dst in governed:
                if src != dst and net.isolated(dst, "Ingress") and net.isolated(src, "Egress"):
                    self._pair(net, src, dst, gaps)
        findings = []
        for gap in sorted(gaps.values(), key=lambda g: (g.edit.key, g.direction, g.peer)):
            if not gap.missing or suppressed(self.id, gap.edit.source) or any(
                    suppressed(self.id, p.source) for p, _ in gap.allowing.values()):
                continue
            findings.append(self._finding(ctx, gap))
        return findings

    def _pair(self, net: Network, src: int, dst: int, gaps: dict[tuple[str, str, int], Gap]) -> None:
        ingress = net.ingress_conns(src, dst)
        egress = net.egress_conns(src, dst)
        for allowing_side, own, other, denied in (("Ingress", dst, src, egress),
                                                 ("Egress", src, dst, ingress)):
            for policy in net.policies_for(own, allowing_side):
                conns, _ = explicit_conns(net, policy, allowing_side, own, other)
                missing = conns - denied
                if not missing:
                    continue
                edit_side = OTHER[allowing_side]
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
        rules = self._new_rules(ctx, gap)
        operations = append_rule_operations(gap.edit, gap.direction, rules[0])
        field_name = gap.direction.lower()
        operations += [{"op": "add", "path": f"/spec/{field_name}/-", "value": r}
                       for r in rules[1:]]
        patch = Patch(gap.edit.ref, operations, gap.edit.source)
        opens = flows_opened(ctx.network, patched_policies(ctx.inventory, [patch]))
        peer = endpoint_ref(ctx.network.endpoints[gap.peer])
        return Fix(UNSAFE, f"append {len(rules)} {field_name} rule(s) to NetworkPolicy "
                           f"{gap.edit.key} {'to' if gap.direction == 'Egress' else 'from'} "
                           f"{peer} on the ports the other side allows", [patch], [], opens)

    def _finding(self, ctx: Context, gap: Gap) -> Finding:
        net = ctx.network
        peer = net.endpoints[gap.peer]
        own = sorted(gap.endpoints)
        allowing = ", ".join(sorted(gap.allowing))
        allowing_side = OTHER[gap.direction].lower()
        first_port = next(iter(gap.missing.ranges().items()), None)
        reason = ""
        if first_port is not None:
            protocol, ranges = first_port
            src, dst = (own[0], gap.peer) if gap.direction == "Egress" else (gap.peer, own[0])
            verdict = Explainer(net).explain_pods(src, dst, Query(ranges[0][0], protocol))
            side = verdict.egress if gap.direction == "Egress" else verdict.ingress
            reasons = [f"{c.rule}: {c.reason}" for c in side.checks if not c.admits]
            if reasons:
                reason = f" ({'; '.join(reasons[:3])})"
        names = ", ".join(net.endpoints[i].key for i in own)
        message = (f"{allowing_side} of NetworkPolicy {allowing} explicitly allows "
                   f"{gap.missing.describe()} "
                   + (f"from {names} to {peer.key}" if gap.direction == "Egress"
                      else f"from {peer.key} to {names}")
                   + f", but NetworkPolicy {gap.edit.key} isolates {names} for "
                   f"{gap.direction.lower()} and no {gap.direction.lower()} rule admits it"
                   f"{reason}")
        affected = [endpoint_ref(net.endpoints[i]) for i in own] + [endpoint_ref(peer)]
        return Finding(self.id, self.severity, gap.edit.ref, gap.edit.source, message,
                       affected, self._fix(ctx, gap))
