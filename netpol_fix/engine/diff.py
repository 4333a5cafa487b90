"""Connectivity diff: two inventories in, the pairs whose allowed connections differ out.

Why not run `connectivity` twice and compare: a pull request usually edits a few objects,
and the connections of a pair (S, D) depend only on D's ingress side (the policies that
select D, their rules, S's labels and S's namespace labels, D's ports) and S's egress side
(the same, mirrored). If neither S nor D is touched by a changed policy (selected by it in
either version), a changed workload or a namespace whose labels changed, the pair cannot
differ. So only the rows and columns of the touched endpoints are computed, in both
versions; everything else is never looked at. With every endpoint touched this is one full
analysis per version.

External peers follow netpol-analyzer's diff: per endpoint and direction, the address space
is cut where the connections of either version change, and touching ranges with the same
(old, new) connections are merged, so an ipBlock edit reports the ranges it affected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

from netpol_fix.engine.admin_diff import admin_causes, admin_touched, tiered_external
from netpol_fix.engine.changes import (
    DIRECTIONS,
    InputChanges,
    NamespaceChange,
    PolicyChange,
    WorkloadChange,
    input_changes,
    label_delta,
    workloads_by_key,
)
from netpol_fix.engine.cni import UPSTREAM, CniModel
from netpol_fix.engine.connectivity import IPV4_MAX, ExternalRange
from netpol_fix.engine.network import Network, iter_bits
from netpol_fix.inventory.build import Inventory
from netpol_fix.model.connset import ConnSet
from netpol_fix.model.policy import NetworkPolicy, Rule

CHANGE_TYPES = ("changed", "added", "removed")
FAIL_ON = ("any", "added", "removed", "changed")
NONE = ConnSet.none()

Piece = tuple[int, int, ConnSet]
"""An inclusive IPv4 interval and the connections allowed to or from it."""


@dataclass(frozen=True)
class Cause:
    """One input change responsible for a pair's difference, said for that pair."""

    subject: str
    """`NetworkPolicy ns/name`, `Namespace name` or `workload ns/name[Kind]`."""
    change: str
    """`added`, `removed`, `edited` or `labels changed`."""
    detail: str

    def __str__(self) -> str:
        return f"{self.subject} {self.detail}"

    def to_json(self) -> dict[str, str]:
        return {"subject": self.subject, "change": self.change, "detail": self.detail}


@dataclass(frozen=True)
class PairChange:
    """A pair (workload or external range, either side) whose connections differ."""

    change: str
    """`added` (no connection before), `removed` (none after) or `changed`."""
    src: str
    dst: str
    old: ConnSet
    new: ConnSet
    new_or_lost: tuple[str, ...] = ()
    """Workloads of the pair that exist on one side only (netpol-analyzer's diff info)."""
    causes: tuple[Cause, ...] = ()

    @property
    def lost(self) -> ConnSet:
        return self.old - self.new

    @property
    def gained(self) -> ConnSet:
        return self.new - self.old

    @property
    def sort_key(self) -> tuple[int, str, str]:
        return (CHANGE_TYPES.index(self.change), self.src, self.dst)

    def workloads_diff_info(self) -> str:
        """`workload X added`, `workload X and Y removed`, or empty."""
        if not self.new_or_lost:
            return ""
        return f"workload {' and '.join(self.new_or_lost)} {self.change}"


def counts_as_failure(change: PairChange, fail_on: str) -> bool:
    """Whether a change makes `diff --fail-on` exit 1. `removed` also counts a changed pair
    that lost connections (a reduction breaks clients as a removal does); `added` also
    counts a changed pair that gained some (an opening)."""
    if fail_on == "any":
        return True
    if fail_on == "removed":
        return change.change == "removed" or (change.change == "changed" and bool(change.lost))
    if fail_on == "added":
        return change.change == "added" or (change.change == "changed" and bool(change.gained))
    return change.change == fail_on


@dataclass(frozen=True)
class ConnectivityDiff:
    changes: tuple[PairChange, ...]
    inputs: InputChanges

    def counts(self) -> dict[str, int]:
        return {t: sum(1 for c in self.changes if c.change == t) for t in CHANGE_TYPES}


# ---------------------------------------------------------------------------------------------
# One version's connections, computed on demand per endpoint
# ---------------------------------------------------------------------------------------------


class _Side:
    """Rows and columns of one version's connectivity, with per-endpoint caches."""

    def __init__(self, network: Network, intervals: _Intervals) -> None:
        self.net = network
        self.intervals = intervals
        self.keys = [e.key for e in network.endpoints]
        self.index: dict[str, int] = {}
        for i, key in enumerate(self.keys):
            self.index[key] = self.index.get(key, 0) | 1 << i
        self._in: dict[int, list[tuple[int, ConnSet]] | None] = {}
        self._out: dict[int, list[tuple[int, Rule]] | None] = {}

    def bits_of(self, keys: Iterable[str]) -> int:
        bits = 0
        for key in keys:
            bits |= self.index.get(key, 0)
        return bits

    def ingress(self, dst: int) -> list[tuple[int, ConnSet]] | None:
        """(source bits, connections) per ingress rule of dst; None when not isolated."""
        if dst not in self._in:
            net = self.net
            entries = None
            if net.isolated(dst, "Ingress"):
                ports = net.endpoints[dst].ports
                entries = []
                for policy in net.policies_for(dst, "Ingress"):
                    for rule in policy.ingress:
                        conns = net.rule_conns(rule, ports)
                        if conns:
                            entries.append((net.rule_peer_bits(policy, rule), conns))
            self._in[dst] = entries
        return self._in[dst]

    def egress(self, src: int) -> list[tuple[int, Rule]] | None:
        """(destination bits, rule) per egress rule of src; None when not isolated."""
        if src not in self._out:
            net = self.net
            entries = None
            if net.isolated(src, "Egress"):
                entries = [(net.rule_peer_bits(policy, rule), rule)
                           for policy in net.policies_for(src, "Egress")
                           for rule in policy.egress]
            self._out[src] = entries
        return self._out[src]

    def conns(self, src: int, dst: int) -> ConnSet:
        """What is allowed from src to dst: dst's ingress side and src's egress side."""
        if self.net.tiers is not None:  # admin and baseline tiers (engine/tiers.py)
            return self.net.ingress_conns(src, dst) & self.net.egress_conns(src, dst)
        ingress = self.ingress(dst)
        if ingress is None:
            admitted = ConnSet.all()
        else:
            admitted = NONE
            bit = 1 << src
            for bits, conns in ingress:
                if bits & bit:
                    admitted = admitted | conns
            if not admitted:
                return NONE
        egress = self.egress(src)
        if egress is None:
            return admitted
        sent = NONE
        bit = 1 << dst
        ports = self.net.endpoints[dst].ports
        for bits, rule in egress:
            if bits & bit:
                sent = sent | self.net.rule_conns(rule, ports)
        return admitted & sent

    def column(self, dst: int, acc: dict[tuple[str, str], ConnSet]) -> None:
        """Every source's connections to dst, into acc."""
        ingress = self.ingress(dst)
        candidates = self.net.all
        if ingress is not None and self.net.tiers is None:
            candidates = 0
            for bits, _conns in ingress:
                candidates |= bits
        self._collect(((s, dst) for s in iter_bits(candidates & ~(1 << dst))), acc)

    def row(self, src: int, skip: int, acc: dict[tuple[str, str], ConnSet]) -> None:
        """src's connections to every destination not in `skip`, into acc."""
        egress = self.egress(src)
        candidates = self.net.all
        if egress is not None and self.net.tiers is None:
            candidates = 0
            for bits, _rule in egress:
                candidates |= bits
        candidates &= ~skip & ~(1 << src)
        self._collect(((src, d) for d in iter_bits(candidates)), acc)

    def _collect(self, pairs: Iterable[tuple[int, int]],
                 acc: dict[tuple[str, str], ConnSet]) -> None:
        keys = self.keys
        for s, d in pairs:
            if keys[s] == keys[d]:
                continue
            conns = self.conns(s, d)
            if conns:
                key = (keys[s], keys[d])
                previous = acc.get(key)
                acc[key] = conns if previous is None else previous | conns

    def external(self, endpoints: int, direction: str) -> list[Piece]:
        """Connections between the endpoints (bits) and the address space, one direction:
        `Ingress` from outside, `Egress` to outside; disjoint sorted pieces."""
        items: list[Piece] = []
        if self.net.tiers is not None:
            return _piecewise(tiered_external(self.net.tiers, endpoints, direction))
        for i in iter_bits(endpoints):
            if not self.net.isolated(i, direction):
                items.append((0, IPV4_MAX, ConnSet.all()))
                continue
            ports = self.net.endpoints[i].ports
            for policy in self.net.policies_for(i, direction):
                for rule in policy.rules(direction):
                    conns = self.net.rule_conns(rule, ports) if direction == "Ingress" \
                        else self.net.rule_numeric_conns(rule)
                    if conns:
                        items.extend((a, b, conns) for a, b in self.intervals(rule))
        return _piecewise(items)


class _Intervals:
    """The addresses each rule's peers admit, computed once per rule for one diff
    (attribution asks once per changed pair, and ipBlocks with many excepts are slow)."""

    def __init__(self) -> None:
        self._cache: dict[int, list[tuple[int, int]]] = {}

    def __call__(self, rule: Rule) -> list[tuple[int, int]]:
        if rule.all_peers:
            return [(0, IPV4_MAX)]
        cached = self._cache.get(id(rule))  # rules outlive the diff: ids stay unique
        if cached is None:
            cached = [iv for peer in rule.peers if peer.ip_block is not None
                      for iv in peer.ip_block.intervals(4)]
            self._cache[id(rule)] = cached
        return cached


def _piecewise(items: list[Piece]) -> list[Piece]:
    """Disjoint pieces, each the union of the items covering it; empty stretches left out."""
    if not items:
        return []
    cuts = sorted({a for a, _b, _c in items} | {b + 1 for _a, b, _c in items})
    out: list[Piece] = []
    for start, end in pairwise(cuts):
        conns = NONE
        for a, b, c in items:
            if a <= start and end - 1 <= b:
                conns = conns | c
        if conns:
            out.append((start, end - 1, conns))
    return out


def _value_at(pieces: list[Piece], address: int) -> ConnSet:
    lo, hi = 0, len(pieces)
    while lo < hi:
        mid = (lo + hi) // 2
        if pieces[mid][1] < address:
            lo = mid + 1
        else:
            hi = mid
    if lo < len(pieces) and pieces[lo][0] <= address:
        return pieces[lo][2]
    return NONE


def aligned_changes(old: list[Piece], new: list[Piece]) -> list[tuple[int, int, ConnSet, ConnSet]]:
    """Maximal ranges where (old, new) is constant and old != new."""
    cuts = sorted({0, IPV4_MAX + 1} | {a for a, _b, _c in old + new}
                  | {b + 1 for _a, b, _c in old + new})
    out: list[tuple[int, int, ConnSet, ConnSet]] = []
    for start, end in pairwise(cuts):
        before, after = _value_at(old, start), _value_at(new, start)
        if before == after:
            continue
        if out and out[-1][1] == start - 1 and out[-1][2] == before and out[-1][3] == after:
            out[-1] = (out[-1][0], end - 1, before, after)
        else:
            out.append((start, end - 1, before, after))
    return out


# ---------------------------------------------------------------------------------------------
# The diff
# ---------------------------------------------------------------------------------------------


def _touched_keys(inputs: InputChanges, old: _Side, new: _Side) -> set[str]:
    """Endpoints whose ingress or egress side (or whose matching as a peer) may differ."""
    keys = {c.key for c in inputs.workloads}
    changed_ns = {c.name for c in inputs.namespaces}
    for side in (old, new):
        keys |= {e.key for e in side.net.endpoints if e.namespace in changed_ns}
    for change in inputs.policies:
        for side, policy in ((old, change.old), (new, change.new)):
            if policy is not None:
                keys |= {side.keys[i] for i in iter_bits(side.net.selected(policy))}
    keys |= admin_touched(inputs.admin, old.net, new.net)
    return keys


def diff_inventories(old: Inventory, new: Inventory,
                     host_network_as_pods: bool = False, cni: CniModel = UPSTREAM
                     ) -> ConnectivityDiff:
    """Every pair whose allowed connections differ, with the input changes responsible
    (`cni`: what the cluster's plugin enforces, the same in both versions)."""
    inputs = input_changes(old, new)
    intervals = _Intervals()
    sides = (_Side(Network(old, host_network_as_pods=host_network_as_pods, cni=cni),
                   intervals),
             _Side(Network(new, host_network_as_pods=host_network_as_pods, cni=cni),
                   intervals))
    touched = _touched_keys(inputs, *sides)
    pairs: tuple[dict[tuple[str, str], ConnSet], dict[tuple[str, str], ConnSet]] = ({}, {})
    for side, acc in zip(sides, pairs, strict=True):
        bits = side.bits_of(touched)
        for i in iter_bits(bits):
            side.column(i, acc)
        for i in iter_bits(bits):
            side.row(i, bits, acc)
    known = (set(workloads_by_key(old)), set(workloads_by_key(new)))
    why = _Attribution(inputs, *sides)
    changes: list[PairChange] = []

    def add(src: str, dst: str, before: ConnSet, after: ConnSet,
            src_is_workload: bool, dst_is_workload: bool) -> None:
        kind = "added" if not before else "removed" if not after else "changed"
        lonely: tuple[str, ...] = ()
        if kind != "changed":
            other = known[0] if kind == "added" else known[1]
            lonely = tuple(k for k, is_workload in ((src, src_is_workload),
                                                     (dst, dst_is_workload))
                           if is_workload and k not in other)
        causes = why.causes(src if src_is_workload else None, dst if dst_is_workload else None,
                            _range_of(src, src_is_workload), _range_of(dst, dst_is_workload))
        changes.append(PairChange(kind, src, dst, before, after, lonely, causes))

    for pair in pairs[0].keys() | pairs[1].keys():
        before, after = pairs[0].get(pair, NONE), pairs[1].get(pair, NONE)
        if before != after:
            add(pair[0], pair[1], before, after, True, True)
    for key in sorted(touched):
        for direction in DIRECTIONS:
            old_pieces = sides[0].external(sides[0].index.get(key, 0), direction)
            new_pieces = sides[1].external(sides[1].index.get(key, 0), direction)
            for a, b, before, after in aligned_changes(old_pieces, new_pieces):
                name = ExternalRange(a, b).key
                if direction == "Ingress":
                    add(name, key, before, after, False, True)
                else:
                    add(key, name, before, after, True, False)
    changes.sort(key=lambda c: c.sort_key)
    return ConnectivityDiff(tuple(changes), inputs)


def connectivity_diff(old_inventory: Inventory, new_inventory: Inventory,
                      host_network_as_pods: bool = False, cni: CniModel = UPSTREAM
                      ) -> list[PairChange]:
    """The pairs whose connections differ between two inventories, with their causes.

    The entry point for callers that already hold inventories (the PR bot shows the
    connectivity diff of a fix with it)."""
    return list(diff_inventories(old_inventory, new_inventory, host_network_as_pods,
                                 cni).changes)


def _range_of(name: str, is_workload: bool) -> tuple[int, int] | None:
    if is_workload:
        return None
    first, _, last = name.removesuffix("[External]").partition("-")
    return _ip(first), _ip(last)


def _ip(text: str) -> int:
    a, b, c, d = (int(x) for x in text.split("."))
    return a << 24 | b << 16 | c << 8 | d


# ---------------------------------------------------------------------------------------------
# Attribution
# ---------------------------------------------------------------------------------------------


class _Attribution:
    """Which input changes explain a pair: those touching the destination's ingress side or
    the source's egress side, the pair's own workloads, and namespace label changes that
    flip a namespaceSelector of a policy on either side."""

    def __init__(self, inputs: InputChanges, old: _Side, new: _Side) -> None:
        self.inputs = inputs
        self.sides = (old, new)
        self.workloads = {c.key: c for c in inputs.workloads}
        self.namespaces = {c.name: c for c in inputs.namespaces}
        # policy changes selecting each endpoint key, per direction, in either version
        self.touching: dict[str, dict[str, list[PolicyChange]]] = {d: {} for d in DIRECTIONS}
        for change in inputs.policies:
            for side, policy in zip(self.sides, (change.old, change.new), strict=True):
                if policy is None:
                    continue
                for i in iter_bits(side.net.selected(policy)):
                    for direction in policy.policy_types:
                        found = self.touching[direction].setdefault(side.keys[i], [])
                        if change not in found:
                            found.append(change)

    def causes(self, src: str | None, dst: str | None, src_range: tuple[int, int] | None,
               dst_range: tuple[int, int] | None) -> tuple[Cause, ...]:
        found: list[Cause] = []
        for endpoint, other, other_range, direction in ((dst, src, src_range, "Ingress"),
                                                        (src, dst, dst_range, "Egress")):
            if endpoint is None:
                continue
            for change in self.touching[direction].get(endpoint, []):
                detail = self._policy_detail(change, direction, endpoint, other, other_range)
                if detail:
                    found.append(Cause(change.subject, change.kind, detail))
        for key in (src, dst):
            workload = self.workloads.get(key) if key is not None else None
            if workload is not None:
                found.append(_workload_cause(workload))
        for endpoint, other, direction in ((dst, src, "Ingress"), (src, dst, "Egress")):
            if endpoint is None or other is None:
                continue
            ns_change = self.namespaces.get(other.split("/", 1)[0])
            if ns_change is not None:
                flipped = self._flipped_selectors(ns_change, endpoint, direction)
                if flipped:
                    delta = label_delta(ns_change.old_labels, ns_change.new_labels)
                    found.append(Cause(ns_change.subject, "labels changed",
                                       f"labels changed ({delta}): {'; '.join(flipped)}"))
        found += [Cause(*cause) for cause in admin_causes(
            self.inputs.admin, (self.sides[0].net, self.sides[1].net),
            (self.sides[0].index, self.sides[1].index), src, dst, src_range, dst_range)]
        unique = list(dict.fromkeys(found))
        return tuple(unique)

    def _matches(self, version: int, policy: NetworkPolicy, rule: Rule, other: str | None,
                 other_range: tuple[int, int] | None) -> bool:
        """Whether a rule's peers admit the other side of the pair in that version."""
        if rule.all_peers:
            return True
        if other_range is not None:
            first, last = other_range
            return any(a <= last and first <= b for a, b in self.sides[0].intervals(rule))
        side = self.sides[version]
        bits = side.index.get(other or "", 0)
        return bool(bits and side.net.rule_peer_bits(policy, rule) & bits)

    def _selects(self, version: int, policy: NetworkPolicy | None, endpoint: str) -> bool:
        if policy is None:
            return False
        side = self.sides[version]
        return bool(side.net.selected(policy) & side.index.get(endpoint, 0))

    def _policy_detail(self, change: PolicyChange, direction: str, endpoint: str,
                       other: str | None, other_range: tuple[int, int] | None) -> str | None:
        """The part of a policy change that concerns this pair, or None if none does."""
        side = direction.lower()
        other_name = other if other is not None else "the range"
        if change.kind in ("added", "removed"):
            version = 1 if change.kind == "added" else 0
            policy = change.new if change.kind == "added" else change.old
            assert policy is not None
            admitting = [r.label for r in policy.rules(direction)
                         if self._matches(version, policy, r, other, other_range)]
            verb = "selects" if change.kind == "added" else "selected"
            text = f"{change.kind} ({verb} {endpoint} for {side}"
            if admitting:
                verb = "admit" if len(admitting) > 1 else "admits"
                return f"{text}; {', '.join(admitting)} {verb} {other_name})"
            return f"{text}; no {side} rule admits {other_name})"
        old, new = change.old, change.new
        assert old is not None and new is not None
        parts = []
        was, now = self._selects(0, old, endpoint), self._selects(1, new, endpoint)
        if was != now:
            parts.append(f"podSelector {old.pod_selector} -> {new.pod_selector}: "
                         f"{'now selects' if now else 'no longer selects'} {endpoint}")
        if change.types_changed(direction):
            parts.append(f"policyTypes {','.join(old.policy_types)} -> "
                         f"{','.join(new.policy_types)}")
        old_rules, new_rules = old.rules(direction), new.rules(direction)
        for o, n in change.rule_changes(direction):
            if (o is not None and self._matches(0, old, old_rules[o], other, other_range)) \
                    or (n is not None and self._matches(1, new, new_rules[n], other, other_range)):
                parts.append(change.rule_edit(direction, o, n))
        return f"edited: {'; '.join(parts)}" if parts else None

    def _flipped_selectors(self, ns_change: NamespaceChange, endpoint: str,
                           direction: str) -> list[str]:
        """namespaceSelectors of the endpoint's policies that match the namespace on one
        side of the label change only."""
        flipped: list[str] = []
        for side in self.sides:
            for i in iter_bits(side.index.get(endpoint, 0)):
                for policy in side.net.policies_for(i, direction):
                    for rule in policy.rules(direction):
                        for peer in rule.peers:
                            selector = peer.namespace_selector
                            if selector is None:
                                continue
                            before = selector.matches(ns_change.old_labels)
                            after = selector.matches(ns_change.new_labels)
                            if before != after:
                                text = (f"namespaceSelector {selector} of {policy} {rule.label} "
                                        f"{'now matches' if after else 'no longer matches'}")
                                if text not in flipped:
                                    flipped.append(text)
        return flipped


def _workload_cause(change: WorkloadChange) -> Cause:
    return Cause(change.subject, change.kind, change.summary())
