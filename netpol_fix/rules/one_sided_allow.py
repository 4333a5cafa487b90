"""one-sided-allow: one side names the other explicitly, the other side's policy denies it.

A connection needs the source's egress and the destination's ingress. Teams often write
only their own side: the database team admits the web pods, and the web team's
default-deny egress never lists the database. A peer that names the other side narrowly
(its namespace and its workload) is strong evidence of intent, so the missing rule on the
other side is the likely fix. A broad peer (`tier: web` of team pay's namespaces) is a
permission, not such evidence: told only with --strict, once per policy (peer_evidence.py).
Flows that a more specific rule explains are left to it (one_sided_causes.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from netpol_fix.engine.network import Network, iter_bits
from netpol_fix.engine.tier_overriding import overriding_denied
from netpol_fix.engine.verdict import Explainer, Query
from netpol_fix.fixes.append import append_rules_operations
from netpol_fix.fixes.cilium_rules import parse_cilium_rules
from netpol_fix.fixes.effect import (
    OpenedPair,
    describe_rules,
    listed_opens,
    pairs_opened_by_rules,
)
from netpol_fix.fixes.flow import policy_to_edit
from netpol_fix.fixes.label_roles import LabelRoles
from netpol_fix.fixes.new_policy import workload_policy
from netpol_fix.inventory.build import NAME_LABEL
from netpol_fix.inventory.policies import parse_network_policy, parse_rules
from netpol_fix.model.admin_policy import AdminPolicy, AdminRule
from netpol_fix.model.cilium_policy import CiliumPolicy, CiliumRule
from netpol_fix.model.connset import ConnSet
from netpol_fix.model.findings import (
    ERROR,
    LISTED_PAIRS,
    UNSAFE,
    WARNING,
    Finding,
    Fix,
    NewObject,
    Patch,
)
from netpol_fix.model.objects import endpoint_ref
from netpol_fix.model.policy import DIRECTIONS, NetworkPolicy, PortSpec
from netpol_fix.model.policy import Rule as RuleSpec
from netpol_fix.rules.admin_evidence import AdminAllowing, admin_allow_rules, admin_evidence_bits
from netpol_fix.rules.base import Rule, RuleDoc
from netpol_fix.rules.cilium_evidence import (
    CiliumAllowing,
    allow_rules,
    counterpart_rule,
    narrow_bits,
)
from netpol_fix.rules.cilium_gap_fix import cilium_gap_fix
from netpol_fix.rules.cilium_side import CiliumEdit, cilium_edit_for
from netpol_fix.rules.context import Context, suppressed
from netpol_fix.rules.counterparts import OTHER, Allowing, admin_counterpart, cilium_counterpart
from netpol_fix.rules.one_sided_causes import SpecificCauses
from netpol_fix.rules.peer_evidence import BROAD, NARROW, Evidence

AllowRule = RuleSpec | CiliumRule | AdminRule
Edit = NetworkPolicy | CiliumEdit
"""The policy a fix edits on the denying side: a NetworkPolicy isolating it, else the
Cilium rule set that does (cilium_side.py)."""


def edit_title(edit: Edit) -> str:
    """`NetworkPolicy shop/default-deny`, `CiliumNetworkPolicy data/db-ingress`."""
    return f"NetworkPolicy {edit.key}" if isinstance(edit, NetworkPolicy) else edit.title

NO_PORTS: tuple[PortSpec, ...] = ()
"""The ports key of Cilium rules' groups: their ports are Cilium's, so no NetworkPolicy
rule of the other side is taken to cover them (the pair is checked, never skipped)."""


@dataclass
class Gap:
    """Flows that `allowing` (a policy of the other side) admits and `edit`'s side denies."""

    edit: Edit
    direction: str
    """The direction of the rule to add to `edit`."""
    peer: int
    """An endpoint the new rule names (the other side of the connection)."""
    allowing: dict[str, Allowing] = field(default_factory=dict)
    """Other-side policies (by key) that explicitly admit the flow."""
    endpoints: set[int] = field(default_factory=set)
    """The endpoints on `edit`'s side whose traffic is dropped."""
    missing: ConnSet = field(default_factory=ConnSet.none)
    naming: dict[tuple[int, str], frozenset[int]] = field(default_factory=dict)
    """(endpoint, allowing policy key) -> indexes of that policy's rules that name it."""


class NewRule(NamedTuple):
    """A rule a fix adds."""

    key: str
    """Canonical: the rule as JSON with sorted keys."""
    raw: dict[str, Any]
    """As written into the policy."""
    parsed: RuleSpec | None
    """As parsed in a NetworkPolicy (None for a Cilium rule: see `cilium`)."""
    ports_key: str
    """Its ports as canonical JSON: rules with equal ones are written as one (_merged)."""
    cilium: CiliumRule | None = None
    """The rule as parsed in a CiliumNetworkPolicy (a fix for a Cilium-isolated side)."""


@dataclass
class GapGroup:
    """The gaps of one policy to edit in one direction: one finding and one fix."""

    edit: Edit
    direction: str
    parts: list[Gap] = field(default_factory=list)
    needs: dict[int, dict[str, NewRule]] = field(default_factory=dict)
    """Per endpoint on the denying side, the rules it needs (by key, in order)."""
    unwritable: bool = False
    """A rule it needs has no NetworkPolicy form (a Cilium ICMP rule): no fix."""

    def add(self, gap: Gap, needs: dict[int, list[NewRule]]) -> None:
        self.parts.append(gap)
        for endpoint, rules in needs.items():
            own = self.needs.setdefault(endpoint, {})
            for rule in rules:
                own.setdefault(rule.key, rule)

    @property
    def peers(self) -> list[int]:
        return [gap.peer for gap in self.parts]

    @property
    def endpoints(self) -> set[int]:
        return set().union(*(gap.endpoints for gap in self.parts))

    @property
    def allowing(self) -> dict[str, Allowing]:
        return {key: policy for gap in self.parts for key, policy in gap.allowing.items()}


def evidence_bits(net: Network, evidence: Evidence, policy: NetworkPolicy, rule: RuleSpec
                  ) -> tuple[int, int]:
    """Endpoints that the rule's narrow peers match, and those its broad peers match."""
    narrow = broad = 0
    for peer in rule.peers:
        level = evidence.of(peer)
        if level == NARROW:
            narrow |= net.peer_bits(policy, peer)
        elif level == BROAD:
            broad |= net.peer_bits(policy, peer)
    return narrow, broad


_ByRule = dict[tuple[int, tuple[PortSpec, ...]], list[tuple[Allowing, AllowRule, int]]]
"""(endpoints the rules' peers name, their ports) -> (policy, rule, endpoints it selects)."""

SAMPLE = 3
"""Pairs a broad-permission warning shows."""


@dataclass
class Unused:
    """A policy whose broad rules admit pods that their own side does not let through."""

    policy: NetworkPolicy | AdminAllowing
    direction: str
    others: set[int] = field(default_factory=set)
    rules: set[int] = field(default_factory=set)
    sample: list[tuple[int, int, ConnSet]] = field(default_factory=list)
    owns: int = 0
    """Endpoints of the allowing side (an admin policy's subject) met so far."""

    def add(self, own: int, other: int, rule: RuleSpec | AdminRule, missing: ConnSet) -> None:
        self.others.add(other)
        self.owns |= 1 << own
        self.rules.add(rule.index)
        if len(self.sample) < SAMPLE and all(o != other for _, o, _ in self.sample):
            self.sample.append((own, other, missing))


RUN_TIME_PEERS = ("toServices",)
"""Cilium allow peers that the agent resolves and that may hold the cluster's pods (a
Service's backends): a side with such a rule may admit at run time what the rules here
deny, so its gaps are not reported (toFQDNs never matches in-cluster addresses; toNodes,
fromNodes, toGroups and fromGroups are nodes' or cloud addresses, never pods)."""


def _run_time_sides(net: Network, direction: str) -> int:
    """Endpoints whose side in `direction` has a Cilium allow rule with RUN_TIME_PEERS."""
    bits = 0
    if net.tiers is None:
        return bits
    rows = net.tiers.cilium.rows[direction]
    for i in range(net.size):
        if any(not rule.deny and any(name in RUN_TIME_PEERS for name in rule.runtime)
               for _policy, rule in rows[i]):
            bits |= 1 << i
    return bits


def _own_side(net: Network, direction: str, own: int, other: int) -> ConnSet:
    """What `own`'s side in `direction` admits towards (or from) `other`, through every
    tier: an admin Allow decides only where no earlier rule of a higher-priority policy
    (or of its own) took the connection first."""
    return net.egress_conns(own, other) if direction == "Egress" \
        else net.ingress_conns(other, own)


def _ends(net: Network, direction: str, own: int, other: int) -> str:
    """`from A to B` for a rule of `own`'s policy in `direction` naming `other`."""
    src, dst = (own, other) if direction == "Egress" else (other, own)
    return f"from {net.endpoints[src].key} to {net.endpoints[dst].key}"


def _denied(net: Network, checker: _PairChecker, by_rule: _ByRule
            ) -> Iterator[tuple[int, int, Allowing, AllowRule, ConnSet]]:
    """(own, other, policy, rule, missing) for each pair that a rule of `policy`
    (selecting `own`) names and whose other side denies `missing` of what it admits."""
    for (named, ports), members in by_rule.items():
        by_own: dict[int, list[tuple[Allowing, AllowRule]]] = {}
        for policy, rule, owns in members:
            for own in iter_bits(owns):
                by_own.setdefault(own, []).append((policy, rule))
        owns_all = sum(1 << own for own in by_own)
        for other in iter_bits(named):
            # the pairs whose side has a rule covering these ports need no check
            candidates = owns_all & ~checker.covered(other, ports) & ~(1 << other)
            if not candidates:
                continue
            sides = net.side_conns(other, checker.edit_side, candidates)
            for own, side in sides.items():
                for policy, rule in by_own[own]:
                    missing = checker.missing(own, other, rule, side)
                    if missing:
                        yield own, other, policy, rule, missing


class _PairChecker:
    """What one side (`edit_side`) of each named pair denies, with the shortcuts and memos
    that keep the walk proportional to the gaps rather than to the named pairs."""

    def __init__(self, net: Network, edit_side: str) -> None:
        self.net = net
        self.edit_side = edit_side
        # keyed by the identity of the ports tuple: the caller passes one tuple per group
        self._covered: dict[tuple[int, int], int] = {}
        self._covers: dict[tuple[int, int], bool] = {}
        self._edits: dict[int, Edit] = {}
        # conns - side, by the identities of both (they come from the network's caches):
        # thousands of gaps share a few differences of 8 KB port sets, and so share objects
        self._differences: dict[tuple[int, int], tuple[ConnSet, ConnSet, ConnSet]] = {}

    def covered(self, other: int, ports: tuple[PortSpec, ...]) -> int:
        """Endpoints towards which `other`'s side has one rule admitting every port of
        `ports` whatever the destination's container ports (no ports, the same named
        port, a numeric range around it): no pair with them can have a gap. (`ports` is
        one object per distinct list of ports: it is memoised by identity.)"""
        key = (other, id(ports))
        bits = self._covered.get(key)
        if bits is None:
            bits = 0
            for rule_bits, rule in self.net.side_rules(other, self.edit_side):
                if rule_bits & ~bits and self._rule_covers(rule, ports):
                    bits |= rule_bits
            self._covered[key] = bits
        return bits

    def _rule_covers(self, rule: RuleSpec, ports: tuple[PortSpec, ...]) -> bool:
        if not rule.ports:
            return True
        if not ports:
            return False
        key = (id(rule), id(ports))
        known = self._covers.get(key)
        if known is None:
            numeric = rule.numeric_conns()
            known = all(spec in rule.ports if spec.is_named
                        else not spec.numeric() - numeric for spec in ports)
            self._covers[key] = known
        return known

    def edit_policy(self, other: int) -> Edit:
        """A NetworkPolicy isolating the side (as `explain --fix` picks it), else the Cilium
        rule set that isolates it (only one of them does: the side is isolated)."""
        edit = self._edits.get(other)
        if edit is None:
            if self.net.policies_for(other, self.edit_side):
                edit = policy_to_edit(self.net, other, self.edit_side)
            else:
                cilium = cilium_edit_for(self.net, other, self.edit_side)
                assert cilium is not None
                edit = cilium
            self._edits[other] = edit
        return edit

    def missing(self, own: int, other: int, rule: AllowRule, side: ConnSet) -> ConnSet:
        """What `rule` (of a policy selecting `own`) admits between `own` and `other` and
        `other`'s side (`side`, what it admits towards or from `own`) denies."""
        net = self.net
        dst = other if self.edit_side == "Ingress" else own
        ports = net.endpoints[dst].ports
        conns = rule.conns_for(ports) if isinstance(rule, (CiliumRule, AdminRule)) \
            else net.rules_conns([rule], ports)
        known = self._differences.get((id(conns), id(side)))
        if known is None:
            known = self._differences[(id(conns), id(side))] = (conns, side, conns - side)
        return known[2]


def _counterpart_rule(policy: NetworkPolicy, direction: str, indexes: frozenset[int]
                      ) -> dict[str, Any]:
    """The rule in `direction` that mirrors `policy`'s rules at `indexes` (rules of the
    other direction naming the endpoint): to (or from) the pods `policy` selects, pinned by
    namespace name, on the ports those rules allow (every port when one of them has none)."""
    raw_rules = ((policy.source.obj.get("spec") or {}).get(OTHER[direction].lower()) or []) \
        if policy.source else []
    ports: list[dict[str, Any]] = []
    every_port = False
    for index in sorted(indexes):
        raw = raw_rules[index] if index < len(raw_rules) else None
        raw_ports = raw.get("ports") if isinstance(raw, dict) else None
        if not raw_ports:
            every_port = True
            break
        ports += [p for p in raw_ports if p not in ports]
    raw_selector = (policy.source.obj.get("spec") or {}).get("podSelector") \
        if policy.source else None
    peer = {"namespaceSelector": {"matchLabels": {NAME_LABEL: policy.namespace}},
            "podSelector": raw_selector or {}}
    rule: dict[str, Any] = {"to" if direction == "Egress" else "from": [peer]}
    if not every_port:
        rule["ports"] = ports
    return rule


def _merged(rules: list[NewRule], direction: str) -> list[dict[str, Any]]:
    """The rules as written, those on the same ports made one rule with their peers
    together (in order): `to: [a, b]` on ports P admits exactly what `to: [a]` and
    `to: [b]` on P admit, and a policy missing a hundred peers gets a few rules, not a
    hundred. (What they open is computed from the parsed rules, which are shared between
    findings and whose peers' matches are memoised.)"""
    towards = "to" if direction == "Egress" else "from"
    by_ports: dict[str, dict[str, Any]] = {}
    for rule in rules:  # distinct keys: on equal ports, distinct peers
        same = by_ports.setdefault(rule.ports_key, {**rule.raw, towards: []})
        same[towards] += rule.raw[towards]
    return list(by_ports.values())


@dataclass
class Overridden:
    """Flows an allowing policy names that a higher tier's rule drops on the other side."""

    allowing: Allowing
    direction: str
    """The direction of the side that drops them."""
    deciding: list[tuple[AdminPolicy | CiliumPolicy, str]]
    flows: list[tuple[int, int, ConnSet]] = field(default_factory=list)
    """(own, other, connections): `own` selected by `allowing`, `other` on the dropping side."""


class OneSidedAllow(Rule):
    id = "one-sided-allow"
    severity = ERROR
    applicability = UNSAFE
    summary = "One side explicitly allows a connection that the other side's policy denies"
    doc = RuleDoc(
        why=(
            "Traffic between two pods passes only if the source's egress and the "
            "destination's ingress both allow it. When the destination's ingress rule names "
            "the source narrowly but the source is isolated for egress and no egress rule "
            "admits the destination on those ports, the connection is dropped at the source, "
            "and the team that wrote the ingress rule sees no reason for it. The mirror case "
            "(a narrow egress rule, a denying ingress side) is the same.\n\n"
            "Evidence levels. A peer is narrow when it names the namespace (the policy's own "
            "one, or by kubernetes.io/metadata.name, or a label whose value is the "
            "namespace's own name) and the workload (its podSelector pins an identity label: "
            "app, app.kubernetes.io/name or instance, k8s-app, name, run, or a label no two "
            "workloads of a namespace share). A narrow peer the other side denies is an "
            "error, with a fix. A peer is broad when it names a class instead: namespaces "
            "chosen by other labels (team, env) or all namespaces, a podSelector on class "
            "labels (tier, role, component, part-of...), NotIn or Exists, or every pod of a "
            "namespace. A broad rule is a permission, not evidence that each admitted pod "
            "means to connect, and least privilege on the other side denies most of them by "
            "design: broad peers are reported only with --strict (or `strict: true` in "
            ".netpol-fix.yaml), as one warning per policy with the number of admitted "
            "workloads that cannot use the permission and a sample, without a fix. "
            "`{}` peers and ipBlocks admit whoever comes and are no evidence at all.\n\n"
            "One cause, one finding: a flow that a more specific rule explains (its peer's "
            "namespaceSelector matches no namespace, its podSelector looks in the wrong "
            "namespace, an egress-only policy without policyTypes also isolates ingress, "
            "rules policyTypes ignores, DNS lookups) is left to that rule when it runs.\n\n"
            "Across kinds. The explicit allow may also be a CiliumNetworkPolicy rule "
            "(fromEndpoints/toEndpoints, narrow when the namespace is named by "
            "k8s:io.kubernetes.pod.namespace or is the policy's own, and the labels name the "
            "workload; where Cilium enforces: --cni cilium or unknown) or an Allow (v1alpha2 "
            "Accept) rule of an AdminNetworkPolicy, the BaselineAdminNetworkPolicy or a "
            "ClusterNetworkPolicy (a pods peer naming the namespace by "
            "kubernetes.io/metadata.name and an identity label is narrow; a namespaces peer "
            "or class labels are broad, --strict only), counted only where it decides its own "
            "side (no earlier rule of a higher-priority policy took the connection). The "
            "other side's verdict is the tiered engine's: the gap is reported when it "
            "denies. The denying side may be isolated by a NetworkPolicy (fixed by a "
            "NetworkPolicy rule) or only by a CiliumNetworkPolicy (fixed by a CNP rule). "
            "What an AdminNetworkPolicy Deny or a Cilium deny rule drops on the other side "
            "is a warning on that rule, without a fix: an allow would open nothing."),
        example=(
            "# in namespace db: ingress from web on 5432\n"
            "ingress:\n- from: [{namespaceSelector: {matchLabels: "
            "{kubernetes.io/metadata.name: shop}}, podSelector: {matchLabels: {app: web}}}]\n"
            "  ports: [{port: 5432}]\n"
            "# in namespace shop: default-deny egress, no rule to the db pods"),
        fix=(
            "One rule for exactly the dropped flows: to (or from) the peer's namespace by "
            "`kubernetes.io/metadata.name` and the labels the other side's policy selects its "
            "pods with, on the ports the other side allows. It is appended to the policy "
            "that isolates the denying side only when that policy selects exactly the "
            "affected workloads and its podSelector names them; otherwise (a namespace's "
            "default-deny `{}`, even with one workload in it today, or `tier: web`) a new "
            "policy per affected workload carries it, selecting it by all its labels. The "
            "fix says what the new rules allow, the exact number of workload pairs they open "
            "and the flows of the first 20 (`--all-opens`: all), through the tiers (what an "
            "admin Deny or a Cilium deny rule drops first is not counted).\n\n"
            "Where only a CiliumNetworkPolicy isolates the denying side, the fix is a CNP "
            "rule in the same way: `fromEndpoints` (or `toEndpoints`) with the allowing "
            "policy's pod labels and `k8s:io.kubernetes.pod.namespace` (a Cilium selector "
            "without it is the policy's own namespace), `toPorts` with exactly the ports the "
            "allowing rule names, protocols as written (a rule without ports: no toPorts; a "
            "Cilium ICMP rule: its `icmps`), appended to that CNP when its endpointSelector "
            "selects just the affected workloads and names them, else a new "
            "CiliumNetworkPolicy `<workload>-allow-ingress` (or `-egress`) per workload. For "
            "an admin Allow the rule names the subject's podSelector in the affected pods' "
            "namespace."),
        unsafe=(
            "Unsafe: the denial may be deliberate (the owner of the denying side decided "
            "against the connection), and the new rule also admits every pod those labels "
            "select, listed in the fix's `opens`."),
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        net = ctx.network
        roles = LabelRoles(net.endpoints)
        evidence = Evidence(roles, net.inventory.namespaces)
        causes = SpecificCauses(ctx)
        strict = ctx.settings.strict
        gaps: dict[tuple[str, str, int], Gap] = {}
        unused: dict[str, Unused] = {}
        overridden: dict[tuple[str, str, str], Overridden] = {}
        governed = net.all
        for i, endpoint in enumerate(net.endpoints):
            if endpoint.host_network:
                governed &= ~(1 << i)
        for allowing_side in DIRECTIONS:
            edit_side = OTHER[allowing_side]
            # the other side's policies admit everything unless it is isolated (by a
            # NetworkPolicy, or where Cilium enforces by a Cilium rule set: cilium_side.py)
            isolated = 0
            cilium_isolated = net.tiers.cilium.isolated if net.tiers is not None else None
            for i in range(net.size):
                if net.isolated(i, edit_side) or (
                        cilium_isolated is not None and cilium_isolated(i, edit_side)):
                    isolated |= 1 << i
            isolated &= ~_run_time_sides(net, edit_side)
            # Only pairs that an explicit peer names can have a gap: walk the rules and
            # their explicit peers, never every pair of endpoints. Rules naming the same
            # endpoints on the same ports (one per workload's policy, often) go together.
            narrow_rules: _ByRule = {}
            broad_rules: _ByRule = {}
            port_lists: dict[tuple[PortSpec, ...], tuple[PortSpec, ...]] = {}
            for policy in net.inventory.policies:
                if not policy.isolates(allowing_side):
                    continue
                owns = net.selected(policy) & governed
                for rule in policy.rules(allowing_side) if owns else ():
                    narrow, broad = evidence_bits(net, evidence, policy, rule)
                    narrow &= governed & isolated
                    broad &= governed & isolated & ~narrow
                    ports = port_lists.setdefault(rule.ports, rule.ports)  # one object each
                    if narrow:
                        narrow_rules.setdefault((narrow, ports), []).append((policy, rule, owns))
                    if broad and strict:
                        broad_rules.setdefault((broad, ports), []).append((policy, rule, owns))
            for allowing, cilium_rule, owns in allow_rules(net, allowing_side):
                owns &= governed
                narrow = narrow_bits(net, evidence, cilium_rule) & governed & isolated \
                    if owns else 0
                if narrow:
                    narrow_rules.setdefault((narrow, NO_PORTS), []).append(
                        (allowing, cilium_rule, owns))
            for admin, admin_rule, owns in admin_allow_rules(net, allowing_side):
                owns &= governed
                if not owns:
                    continue
                narrow, broad = admin_evidence_bits(net, evidence, admin_rule)
                narrow &= governed & isolated
                broad &= governed & isolated & ~narrow
                if narrow:
                    narrow_rules.setdefault((narrow, NO_PORTS), []).append(
                        (admin, admin_rule, owns))
                if broad and strict:
                    broad_rules.setdefault((broad, NO_PORTS), []).append(
                        (admin, admin_rule, owns))
            checker = _PairChecker(net, edit_side)
            for own, other, allower, allow_rule, missing in _denied(net, checker,
                                                                    narrow_rules):
                missing = missing - causes.explained(own, other, edit_side, missing)
                if missing and isinstance(allower, AdminAllowing):
                    missing = missing & _own_side(net, allowing_side, own, other)
                if missing and net.tiers is not None:
                    # what an admin Deny or a Cilium deny rule drops first: no
                    # NetworkPolicy rule can open it, so it is told without a fix
                    dropped, deciding = overriding_denied(net, other, edit_side, own)
                    dropped = missing & dropped
                    if dropped and deciding:
                        key = (allower.key, edit_side, deciding[0][0].key)
                        told = overridden.setdefault(
                            key, Overridden(allower, edit_side, deciding))
                        told.flows.append((own, other, dropped))
                        missing = missing - dropped
                if missing:
                    self._add_gap(checker.edit_policy(other), allower, own, other,
                                  allow_rule, missing, gaps)
            for own, other, allower, allow_rule, missing in _denied(net, checker,
                                                                    broad_rules):
                missing = missing - causes.explained(own, other, edit_side, missing)
                if missing and isinstance(allower, AdminAllowing):
                    missing = missing & _own_side(net, allowing_side, own, other)
                if missing:
                    # (broad peers: NetworkPolicy and admin rules only)
                    assert isinstance(allower, (NetworkPolicy, AdminAllowing))
                    assert isinstance(allow_rule, (RuleSpec, AdminRule))
                    entry = unused.setdefault(allower.key, Unused(allower, allow_rule.direction))
                    entry.add(own, other, allow_rule, missing)
        findings = []
        groups = self._grouped(ctx, gaps.values())
        gaps.clear()
        groups.reverse()
        taken: set[tuple[str, str]] = set()  # names of the policies the fixes create
        while groups:  # each group (its gaps, its parsed rules) is dropped once it is told
            group = groups.pop()
            if suppressed(self.id, group.edit.source) or any(
                    suppressed(self.id, p.source) for p in group.allowing.values()):
                continue
            findings.append(self._finding(ctx, group, taken, roles))
        for key in sorted(overridden):
            told = overridden[key]
            if not suppressed(self.id, told.allowing.source) and not suppressed(
                    self.id, told.deciding[0][0].source):
                findings.append(self._overridden_finding(ctx, told))
        for entry in sorted(unused.values(), key=lambda u: u.policy.key):
            if not suppressed(self.id, entry.policy.source):
                findings.append(self._unused_finding(ctx, entry))
        return findings

    def _overridden_finding(self, ctx: Context, told: Overridden) -> Finding:
        """One warning per allowing policy, denying side and deciding policy: the drop is
        decided above the NetworkPolicy rules, so no fix is offered."""
        net = ctx.network
        policy = told.deciding[0][0]
        tier = "Cilium deny rule" if isinstance(policy, CiliumPolicy) \
            else f"{policy.short_kind} tier"
        rules = _listed(list(dict.fromkeys(f"{p.short_kind} {p.key} {label}"
                                           for p, label in told.deciding)))
        allowing_side = OTHER[told.direction].lower()
        flows = _listed([f"{conns.describe()} {_ends(net, told.direction, other, own)}"
                         for own, other, conns in told.flows[:3]], shown=2,
                        total=len(told.flows))
        message = (f"{allowing_side} of {_allowing_text({told.allowing.key: told.allowing})} "
                   f"explicitly allows {flows}, but on the {told.direction.lower()} side "
                   f"{rules} drops it first ({tier}: decided before any NetworkPolicy rule, "
                   "so no NetworkPolicy rule can admit it); no fix is offered: the owner of "
                   "that policy decides")
        affected = sorted({endpoint_ref(net.endpoints[i]) for _own, i, _c in told.flows})
        affected += sorted({endpoint_ref(net.endpoints[i]) for i, _o, _c in told.flows}
                           - set(affected))
        return Finding(self.id, WARNING, policy.ref, policy.source, message, affected)

    def _unused_finding(self, ctx: Context, entry: Unused) -> Finding:
        """One warning per policy whose broad permission some admitted pods cannot use."""
        net = ctx.network
        policy = entry.policy
        others = sorted(entry.others)
        side = OTHER[entry.direction].lower()
        rules = ", ".join(f"#{index + 1}" for index in sorted(entry.rules))
        sample = "; ".join(
            f"{missing.describe()} {_ends(net, entry.direction, own, other)}"
            for own, other, missing in entry.sample)
        count = len(others)
        title = f"NetworkPolicy {policy.key}" if isinstance(policy, NetworkPolicy) \
            else policy.title
        message = (f"{entry.direction.lower()} rule(s) {rules} of {title} "
                   f"admit {count} workload(s) by a broad selector (a namespaceSelector on "
                   f"labels other than the name, or a podSelector on class labels) whose own "
                   f"{side} policies do not let them use the permission (e.g. {sample}"
                   f"{'' if count <= len(entry.sample) else ', ...'}). A broad rule is a "
                   "permission, not evidence that each admitted pod means to connect, so no "
                   "fix is offered; if one of them should, allow it on its side")
        owns = net.selected(policy) if isinstance(policy, NetworkPolicy) else entry.owns
        affected = [endpoint_ref(net.endpoints[i]) for i in iter_bits(owns)]
        affected += [endpoint_ref(net.endpoints[i]) for i in others[:SAMPLE]]
        ref = policy.ref if isinstance(policy, NetworkPolicy) else policy.policy.ref
        return Finding(self.id, WARNING, ref, policy.source, message, affected)

    def _grouped(self, ctx: Context, gaps: Iterable[Gap]) -> list[GapGroup]:
        """One group per policy to edit and direction: one finding says everything that
        the policy denies and other sides explicitly allow, and its one fix adds the rules
        for all of it. Per pair findings would bury a repository whose default-deny egress
        forgot its peers under thousands of lines."""
        net = ctx.network
        groups: dict[tuple[str, str], GapGroup] = {}
        # a rule depends on the allowing policy and which of its rules name the endpoint
        # only (and for an admin policy, whose subject spans namespaces, the namespace of
        # its pods; for a Cilium edit, the kind it is written in), and many gaps need the
        # same one: build and parse each once
        made: dict[tuple[str, str, frozenset[int], str, bool], NewRule] = {}
        for gap in sorted(gaps, key=lambda g: (edit_title(g.edit), g.direction, g.peer)):
            group = groups.setdefault((edit_title(gap.edit), gap.direction),
                                      GapGroup(gap.edit, gap.direction))
            in_cilium = isinstance(gap.edit, CiliumEdit)
            needs: dict[int, list[NewRule]] = {}
            for (endpoint, key), indexes in sorted(gap.naming.items(),
                                                   key=lambda item: (item[0], sorted(item[1]))):
                allowing = gap.allowing[key]
                namespace = net.endpoints[gap.peer].namespace \
                    if isinstance(allowing, AdminAllowing) else ""
                made_key = (key, gap.direction, indexes, namespace, in_cilium)
                rule = made.get(made_key)
                if rule is None:
                    rule = self._new_rule(ctx, allowing, gap, indexes)
                    if rule is None:
                        group.unwritable = True
                        continue
                    made[made_key] = rule
                needs.setdefault(endpoint, []).append(rule)
            group.add(gap, needs)
        return list(groups.values())

    @staticmethod
    def _new_rule(ctx: Context, allowing: Allowing, gap: Gap, indexes: frozenset[int]
                  ) -> NewRule | None:
        """The counterpart of `allowing`'s rules at `indexes` in the kind of `gap.edit`
        (None when it has no form there: a Cilium ICMP rule as a NetworkPolicy rule)."""
        net = ctx.network
        direction = gap.direction
        if isinstance(gap.edit, CiliumEdit):
            namespace = net.endpoints[gap.peer].namespace \
                if isinstance(allowing, AdminAllowing) else allowing.namespace
            cilium_raw = cilium_counterpart(net, allowing, direction, indexes, namespace)
            # (its peer names its namespace: where it is parsed does not matter)
            parsed = parse_cilium_rules(gap.edit.namespace or "default", direction,
                                        [cilium_raw])[0]
            ports_key = json.dumps([cilium_raw.get("toPorts"), cilium_raw.get("icmps")],
                                   sort_keys=True)
            return NewRule(json.dumps(cilium_raw, sort_keys=True), cilium_raw, None, ports_key,
                           parsed)
        if isinstance(allowing, CiliumAllowing):
            raw = counterpart_rule(allowing, direction, indexes)
        elif isinstance(allowing, AdminAllowing):
            raw = admin_counterpart(net, allowing, direction, indexes,
                                    net.endpoints[gap.peer].namespace)
        else:
            raw = _counterpart_rule(allowing, direction, indexes)
        if raw is None:
            return None
        return NewRule(json.dumps(raw, sort_keys=True), raw, parse_rules([raw], direction)[0],
                       json.dumps(raw.get("ports"), sort_keys=True))

    @staticmethod
    def _add_gap(edit: Edit, policy: Allowing, own: int, other: int,
                 rule: AllowRule, missing: ConnSet,
                 gaps: dict[tuple[str, str, int], Gap]) -> None:
        """Record that `policy` (selecting `own`) explicitly admits flows to or from
        `other` with `rule`, of which `other`'s side, whose policy to edit is `edit`,
        denies `missing`."""
        edit_side = OTHER[rule.direction]
        gap = gaps.setdefault((edit.key, edit_side, own), Gap(edit, edit_side, own))
        gap.allowing[policy.key] = policy
        gap.endpoints.add(other)
        gap.missing = gap.missing | missing
        indexes = frozenset([rule.index])
        known = gap.naming.get((other, policy.key))
        gap.naming[(other, policy.key)] = indexes if known is None else known | indexes

    def _fix(self, ctx: Context, group: GapGroup, taken: set[tuple[str, str]],
             roles: LabelRoles) -> Fix | None:
        """Rules for exactly the dropped flows. When the policy to edit selects just the
        affected endpoints and they all need the same rules, they are appended to it.
        Otherwise (a namespace's default-deny, a policy over several workloads that need
        different peers) appending would also let the policy's other pods through, and
        those new explicit rules would be one-sided themselves: a new policy per affected
        workload, selecting it by all its labels, carries exactly its rules."""
        net = ctx.network
        edit = group.edit
        limit = None if ctx.settings.all_opens else LISTED_PAIRS
        if edit.source is None or group.unwritable \
                or any(p.source is None for p in group.allowing.values()):
            return None
        if isinstance(edit, CiliumEdit):
            return cilium_gap_fix(net, edit, group.direction, group.needs,
                                  _listed([endpoint_ref(net.endpoints[i]) for i in group.peers]),
                                  taken, roles, limit)
        endpoints = sorted(group.needs)
        affected = 0
        for i in endpoints:
            affected |= 1 << i
        field_name = group.direction.lower()
        towards = "to" if group.direction == "Egress" else "from"
        peers = _listed([endpoint_ref(net.endpoints[i]) for i in group.peers])
        # appended only where the rules reach exactly the affected workloads, now and
        # later: the policy selects just them and its podSelector names them (not `{}`, not
        # `tier: web`, even when only that workload lives in the namespace today)
        exact = net.selected(edit) == affected and roles.names_workload(edit.pod_selector) \
            and len({tuple(group.needs[i]) for i in endpoints}) == 1
        if exact or any(net.endpoints[i].representative for i in endpoints):
            rules = list(group.needs[endpoints[0]].values()) if exact else list(
                {key: rule for i in endpoints for key, rule in group.needs[i].items()}.values())
            written = _merged(rules, group.direction)
            operations = append_rules_operations(edit, group.direction, written)
            parsed = [rule.parsed for rule in rules if rule.parsed is not None]
            pairs = pairs_opened_by_rules(net, edit.namespace, net.selected(edit),
                                          group.direction, parsed)
            return Fix(UNSAFE, f"append {len(written)} {field_name} rule(s) to NetworkPolicy "
                               f"{edit.key} {towards} {peers} on the ports the other side "
                               "allows", [Patch(edit.ref, operations, edit.source)], [],
                       opens_rules=describe_rules(edit.namespace, edit.pod_selector,
                                                  group.direction, parsed),
                       **listed_opens(net, pairs, limit))
        creates: list[NewObject] = []
        opened: list[OpenedPair] = []
        said: list[str] = []
        for i in endpoints:
            endpoint = net.endpoints[i]
            rules = list(group.needs[i].values())
            obj = workload_policy(net, endpoint, group.direction,
                                  _merged(rules, group.direction), taken)
            new = parse_network_policy(obj, endpoint.namespace)
            selected = net.selected(new)
            if any(not net.isolated(j, group.direction) for j in iter_bits(selected)):
                return None  # its labels select pods nothing isolates: it would isolate them
            parsed = [rule.parsed for rule in rules if rule.parsed is not None]
            opened += pairs_opened_by_rules(net, endpoint.namespace, selected, group.direction,
                                            parsed)
            said += describe_rules(endpoint.namespace, new.pod_selector, group.direction,
                                   parsed)
            creates.append(NewObject(obj, after=edit.source))
        names = _listed([f"{c.ref.namespace}/{c.ref.name}" for c in creates])
        if edit.pod_selector.is_empty:
            why = "selects every pod of the namespace, those created later too"
        elif net.selected(edit) != affected or not roles.names_workload(edit.pod_selector):
            why = "selects more"
        else:
            why = "would give them all the same rules; they need different ones"
        return Fix(UNSAFE, f"create NetworkPolicy {names} with the {field_name} rules "
                           f"{towards} {peers} on the ports the other side allows, for those "
                           f"pods only ({edit.key} {why})", [], creates,
                   opens_rules=list(dict.fromkeys(said)), **listed_opens(net, opened, limit))

    def _finding(self, ctx: Context, group: GapGroup, taken: set[tuple[str, str]],
                 roles: LabelRoles) -> Finding:
        net = ctx.network
        first = group.parts[0]
        direction = group.direction.lower()
        allowing = _allowing_text(group.allowing)
        allowing_side = OTHER[group.direction].lower()
        if len(group.parts) == 1:
            own = sorted(first.endpoints)
            names = _listed([net.endpoints[i].key for i in own])
            message = (f"{allowing_side} of {allowing} explicitly allows "
                       f"{_flows(net, first)}, but {edit_title(group.edit)} isolates "
                       f"{names} for {direction} and no {direction} rule admits it")
        else:
            flows = _listed([_flows(net, part) for part in group.parts[:3]], shown=2,
                            total=len(group.parts))
            message = (f"{allowing_side} of {allowing} explicitly allows "
                       f"{len(group.parts)} flows that {edit_title(group.edit)} denies "
                       f"for {direction} ({flows}); no {direction} rule admits them")
        if ctx.traced_messages:
            message += self._reason(net, first)
        affected = sorted({endpoint_ref(net.endpoints[i]) for i in group.endpoints})
        affected += sorted({endpoint_ref(net.endpoints[i]) for i in group.peers} - set(affected))
        return Finding(self.id, self.severity, group.edit.ref, group.edit.source, message,
                       affected, self._fix(ctx, group, taken, roles))

    @staticmethod
    def _reason(net: Network, gap: Gap) -> str:
        """Why the denying side denies the first missing port, as `explain` says it."""
        first_port = next(iter(gap.missing.ranges().items()), None)
        if first_port is None:
            return ""
        protocol, ranges = first_port
        own = min(gap.endpoints)
        src, dst = (own, gap.peer) if gap.direction == "Egress" else (gap.peer, own)
        # only the denying side (the other one admits, by construction), as explain_pods
        # would trace it: half the work for every finding
        explainer, query = Explainer(net), Query(ranges[0][0], protocol)
        if isinstance(gap.edit, CiliumEdit):
            # a side only Cilium isolates: the Cilium step of explain's chain says why
            verdict = explainer.explain_pods(src, dst, query)
            chain = (verdict.egress if gap.direction == "Egress" else verdict.ingress).tiers
            steps = [step.text() for step in (chain.steps if chain is not None else [])
                     if step.decision == "denied"]
            return f" ({steps[0]})" if steps else ""
        side = explainer._egress_side_to_pod(src, dst, query) if gap.direction == "Egress" \
            else explainer._ingress_side(src, dst, query)
        reasons = [f"{c.rule}: {c.reason}" for c in side.checks if not c.admits]
        return f" ({'; '.join(reasons[:3])})" if reasons else ""


def _allowing_text(allowing: dict[str, Allowing]) -> str:
    """`NetworkPolicy a, b` (the NetworkPolicies first), then `CiliumNetworkPolicy c`, then
    the admin policies (`AdminNetworkPolicy d`)."""
    plain = sorted(k for k, p in allowing.items() if isinstance(p, NetworkPolicy))
    cilium = sorted(k for k, p in allowing.items() if isinstance(p, CiliumAllowing))
    parts = [f"NetworkPolicy {_listed(plain)}"] if plain else []
    parts += [f"CiliumNetworkPolicy {_listed(cilium)}"] if cilium else []
    admin: dict[str, list[str]] = {}
    for p in allowing.values():
        if isinstance(p, AdminAllowing):
            admin.setdefault(p.policy.kind, []).append(p.policy.name)
    parts += [f"{kind} {_listed(sorted(names))}" for kind, names in sorted(admin.items())]
    return " and ".join(parts)


def _flows(net: Network, gap: Gap) -> str:
    """`TCP 5432 from shop/web[Deployment] to db/postgres[StatefulSet]` for one gap."""
    names = _listed([net.endpoints[i].key for i in sorted(gap.endpoints)])
    peer = net.endpoints[gap.peer].key
    ends = f"from {names} to {peer}" if gap.direction == "Egress" else f"from {peer} to {names}"
    return f"{gap.missing.describe()} {ends}"


def _listed(names: list[str], shown: int = 3, total: int | None = None) -> str:
    """`a, b, c and 4 more`: a message stays readable when a rule names many pods.
    (`total`: how many there are when `names` holds only the first few.)"""
    total = len(names) if total is None else total
    if total <= shown + 1:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} and {total - shown} more"
