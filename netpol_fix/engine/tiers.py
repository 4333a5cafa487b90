"""Ordered tiers: AdminNetworkPolicy, then NetworkPolicy, then BaselineAdminNetworkPolicy.

One side of a connection (the destination's ingress, or the source's egress) is decided
tier by tier, as the network-policy-api reference orders them:

1. Admin tier (ANP, ClusterNetworkPolicy tier Admin): the policies whose subject selects
   the endpoint, by ascending priority, each policy's rules in order. The first rule that
   matches a connection decides it: Allow and Deny are final, Pass hands it down. What no
   rule matches goes down too: an admin policy isolates nothing.
2. NetworkPolicy tier: an endpoint some NetworkPolicy isolates in this direction gets the
   union of their rules, and everything else is denied: final either way ("v1
   NetworkPolicy always makes a final decision for selected pods").
3. Baseline tier (the BANP `default`, ClusterNetworkPolicy tier Baseline), for endpoints
   no NetworkPolicy isolates: first matching rule, Allow or Deny.
4. Otherwise the Kubernetes default: allowed.

Per side, with A/D the connections the admin tier allows/denies, NP what the isolating
NetworkPolicies admit and BD what the baseline denies: isolated -> A | (NP - D); not
isolated -> A | (ALL - D - BD). The set algebra stays per endpoint class: a side's other
ends are split by which rules' peers match them (bitsets), and each class is composed once
(per destination only when an egress rule names a port by name).
"""

from __future__ import annotations

import bisect
import copy
import ipaddress
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from netpol_fix.engine.cilium_tier import CiliumTier, cilium_intervals
from netpol_fix.model.admin_policy import (
    ADMIN_TIER,
    ALLOW,
    BASELINE_TIER,
    DENY,
    AdminPeer,
    AdminPolicy,
    AdminRule,
)
from netpol_fix.model.cilium_policy import CiliumRule
from netpol_fix.model.connset import ConnSet
from netpol_fix.model.objects import ContainerPort
from netpol_fix.model.policy import DIRECTIONS, Rule

if TYPE_CHECKING:
    from netpol_fix.engine.connectivity import Connection
    from netpol_fix.engine.network import Network

IPV4_MAX = (1 << 32) - 1
NONE = ConnSet.none()
ALL = ConnSet.all()


def _bits(value: int) -> Iterator[int]:
    """Indices of the set bits (network.iter_bits: one pass over the binary string)."""
    from netpol_fix.engine.network import iter_bits

    return iter_bits(value)


@dataclass(frozen=True)
class TierRule:
    """An admin or baseline rule in the context of its policy."""

    policy: AdminPolicy
    rule: AdminRule

    @property
    def label(self) -> str:
        return f"{self.policy.short_kind} {self.policy.name} {self.rule.label}"


Item = tuple[int, object]
"""(other endpoints, rule) of one side (external ranges: ext_bits, on demand)."""


NO_ADMIN_POLICY_CNIS = ("cilium", "flannel", "aws-vpc-cni", "weave")
"""CNIs that do not implement AdminNetworkPolicy/BaselineAdminNetworkPolicy/
ClusterNetworkPolicy (network-policy-api site-src/implementations.md lists OVN-Kubernetes,
Antrea, Kube-OVN, Calico 3.29+ and kube-network-policies; Cilium has a tracking issue
only): under them such policies are stored and not enforced."""


def admin_enforced(cni: str) -> bool:
    return cni not in NO_ADMIN_POLICY_CNIS


def cilium_enforced(cni: str) -> bool:
    """Cilium policies are enforced by Cilium: under `--cni cilium`, or when the CNI is
    not known (their CRDs in the sources say the cluster runs Cilium)."""
    return cni in ("cilium", "unknown")


class Tiers:
    """The admin and baseline tiers of one Network, composed with its NetworkPolicy tier."""

    def __init__(self, network: Network) -> None:
        self.net = network
        policies = network.inventory.admin_policies \
            if admin_enforced(network.cni.name) else []
        self.admin = sorted((p for p in policies if p.tier == ADMIN_TIER),
                            key=lambda p: (p.priority or 0, p.name))
        self.baseline = sorted((p for p in policies if p.tier == BASELINE_TIER),
                               key=lambda p: (p.priority or 0, p.name))
        self.cilium = CiliumTier(network)
        """CiliumNetworkPolicies and CiliumClusterwideNetworkPolicies, in the NetworkPolicy
        tier (engine/cilium_tier.py)."""
        self.subject_bits = {id(p): self._subject(p) for p in policies}
        self._baseline_rules = {id(r) for p in self.baseline for d in DIRECTIONS
                                for r in p.rules(d)}
        self._peer_cache: dict[int, tuple[AdminRule, int]] = {}
        self._rows: dict[tuple[str, str, int], list[TierRule]] = {}
        self._ranges: dict[str, list[tuple[int, int]]] | None = None
        self._starts: dict[str, list[int]] = {}
        self._ext_cache: dict[int, tuple[object, int]] = {}
        self._range_keys: dict[str, list[str]] = {}
        self._interned: dict[ConnSet, ConnSet] = {}
        self._item_cache: dict[tuple[str, int], tuple[list[Item], list[Item], list[Item]]] = {}
        self._port_classes: list[tuple[tuple[ContainerPort, ...], int]] | None = None

    def derived(self, network: Network) -> Tiers:
        """These tiers over a network with other NetworkPolicies (Network.with_policies: a
        fix's patched policies): the admin and Cilium selections are shared, what depends
        on the NetworkPolicies (rows of items, external ranges) is computed again."""
        copied = copy.copy(self)
        copied.net = network
        copied._ranges = None
        copied._starts = {}
        copied._ext_cache = {}
        copied._range_keys = {}
        copied._item_cache = {}
        return copied

    @property
    def ranges(self) -> dict[str, list[tuple[int, int]]]:
        """External peers per direction, netpol-analyzer's way: the IPv4 space cut at every
        boundary of the address peers (ipBlocks, networks, CIDRs) of that direction's
        rules. Computed on first use: only connectivity and external queries need them."""
        if self._ranges is None:
            ranges: dict[str, list[tuple[int, int]]] = {}
            for direction in DIRECTIONS:
                cuts = {0, IPV4_MAX + 1}
                rules: list[object] = [r for p in self.net.inventory.policies
                                       for r in p.rules(direction)]
                rules += [r for p in self.admin + self.baseline for r in p.rules(direction)]
                rules += [r for p in self.cilium.policies for rs in p.rule_sets
                          for r in rs.rules if r.direction == direction]
                for rule in rules:
                    for a, b in _rule_intervals(rule):
                        cuts.update((a, b + 1))
                ordered = sorted(cuts)
                ranges[direction] = [(a, b - 1) for a, b in itertools.pairwise(ordered)]
            self._ranges = ranges
            self._starts = {d: [a for a, _b in r] for d, r in ranges.items()}
        return self._ranges

    # ----- selection -------------------------------------------------------------------
    def _subject(self, policy: AdminPolicy) -> int:
        """Endpoints the policy's subject selects (never hostNetwork pods: their traffic
        is the node's)."""
        net = self.net
        bits = 0
        for ns in net.namespaces_matching(policy.subject_namespaces):
            bits |= net.ns_members.get(ns, 0)
        bits &= net.pod_network
        if bits and policy.subject_pods is not None:
            bits &= net.pod_index.select(policy.subject_pods)
        return bits

    def peer_bits(self, peer: AdminPeer) -> int:
        """Endpoints a peer matches: namespaces and pods selectors only (nodes, networks
        and domain names are addresses, never the cluster's pods)."""
        if not peer.selects_pods:
            return 0
        net = self.net
        assert peer.namespace_selector is not None
        bits = 0
        for ns in net.namespaces_matching(peer.namespace_selector):
            bits |= net.ns_members.get(ns, 0)
        bits &= net.pod_network
        if bits and peer.pod_selector is not None:
            bits &= net.pod_index.select(peer.pod_selector)
        return bits

    def rule_bits(self, rule: AdminRule) -> int:
        entry = self._peer_cache.get(id(rule))
        if entry is None or entry[0] is not rule:
            bits = 0
            for peer in rule.peers:
                bits |= self.peer_bits(peer)
            entry = (rule, bits)
            self._peer_cache[id(rule)] = entry
        return entry[1]

    def row(self, tier: str, direction: str, index: int) -> list[TierRule]:
        """The rules of one tier that govern an endpoint's side, in evaluation order."""
        key = (tier, direction, index)
        found = self._rows.get(key)
        if found is None:
            policies = self.admin if tier == ADMIN_TIER else self.baseline
            found = [TierRule(p, r) for p in policies if self.subject_bits[id(p)] >> index & 1
                     for r in p.rules(direction)]
            self._rows[key] = found
        return found

    def governs(self, index: int, direction: str) -> bool:
        """Whether any admin or baseline rule has a say on this side."""
        return bool(self.row(ADMIN_TIER, direction, index)
                    or self.row(BASELINE_TIER, direction, index))

    # ----- external ranges ---------------------------------------------------------------
    def ext_bits(self, rule: object, direction: str) -> int:
        """External ranges (of that direction) a NetworkPolicy or admin rule admits."""
        entry = self._ext_cache.get(id(rule))
        if entry is not None and entry[0] is rule:
            return entry[1]
        ranges = self.ranges[direction]
        if isinstance(rule, Rule) and rule.all_peers:
            bits = (1 << len(ranges)) - 1
        else:
            starts = self._starts[direction]
            bits = 0
            for a, b in _rule_intervals(rule):
                i = bisect.bisect_left(starts, a)
                while i < len(ranges) and ranges[i][1] <= b:
                    bits |= 1 << i
                    i += 1
        self._ext_cache[id(rule)] = (rule, bits)
        return bits

    def range_key(self, direction: str, r: int) -> str:
        keys = self._range_keys.get(direction)
        if keys is None:
            keys = self._range_keys[direction] = [
                f"{ipaddress.IPv4Address(a)}-{ipaddress.IPv4Address(b)}[External]"
                for a, b in self.ranges[direction]]
        return keys[r]

    # ----- one side ------------------------------------------------------------------------
    def _items(self, index: int, direction: str) -> tuple[list[Item], list[Item], list[Item]]:
        """(admin, NetworkPolicy tier, baseline) items of one side, memoised: rule and pair
        loops ask for the same rows again and again."""
        key = (direction, index)
        found = self._item_cache.get(key)
        if found is None:
            found = self._item_cache[key] = self._build_items(index, direction)
        return found

    def _build_items(self, index: int, direction: str
                     ) -> tuple[list[Item], list[Item], list[Item]]:
        net = self.net
        admin: list[Item] = [(self.rule_bits(t.rule), t.rule)
                             for t in self.row(ADMIN_TIER, direction, index)]
        baseline: list[Item] = [(self.rule_bits(t.rule), t.rule)
                                for t in self.row(BASELINE_TIER, direction, index)]
        np_items: list[Item] = [(bits, rule) for bits, rule in net.side_rules(index, direction)]
        np_items += [(self.cilium.rule_bits(rule), rule)
                     for _policy, rule in self.cilium.rows[direction][index]]
        return admin, np_items, baseline

    def isolated(self, index: int, direction: str) -> bool:
        """Whether the NetworkPolicy tier decides this side: a NetworkPolicy or a Cilium
        rule set puts the endpoint in default deny for the direction."""
        return bool(self.net.selected_by[direction][index]) \
            or self.cilium.isolated(index, direction)

    def side_parts(self, index: int, direction: str, others: int,
                   external: bool = False) -> list[tuple[int, ConnSet]]:
        """(members, connections) for classes of the other ends of one side: endpoints
        (bits of `others`), or with `external` the external ranges (bits of `others` as
        range indices). Members of one class are matched by the same rules of every tier."""
        net = self.net
        admin, np_items, baseline = self._items(index, direction)
        isolated = self.isolated(index, direction)
        which = 1 if external else 0
        parts: list[tuple[int, list[object]]] = [(others, [])]
        for bits, rule in itertools.chain(admin, np_items, baseline):
            if which:
                bits = self.ext_bits(rule, direction)
            split: list[tuple[int, list[object]]] = []
            for members, rules in parts:
                inside = members & bits
                if inside:
                    split.append((inside, [*rules, rule]))
                if members ^ inside:
                    split.append((members ^ inside, rules))
            parts = split
        own_ports = net.endpoints[index].ports
        result: list[tuple[int, ConnSet]] = []
        for members, rules in parts:
            named = direction == "Egress" and not external and any(
                _has_named(rule) for rule in rules)
            if not named:
                ports: tuple[ContainerPort, ...] = own_ports if direction == "Ingress" else ()
                result.append((members, self.compose(rules, isolated, ports, external
                                                     and direction == "Egress")))
                continue
            # a named port resolves per destination: destinations with the same container
            # ports form one class (a handful per row, not one part per destination)
            classes = self.port_classes()
            if members.bit_count() < len(classes):  # few destinations: group just those
                grouped: dict[tuple[ContainerPort, ...], int] = {}
                for other in _bits(members):
                    key = net.endpoints[other].ports
                    grouped[key] = grouped.get(key, 0) | 1 << other
                pairs = list(grouped.items())
            else:
                pairs = [(ports_of, members & bits) for ports_of, bits in classes]
            for ports_of, inside in pairs:
                if inside:
                    result.append((inside, self.compose(rules, isolated, ports_of, False)))
        return result

    def port_classes(self) -> list[tuple[tuple[ContainerPort, ...], int]]:
        """Endpoints grouped by their container ports (what a named port resolves on)."""
        if self._port_classes is None:
            classes: dict[tuple[ContainerPort, ...], int] = {}
            for i, endpoint in enumerate(self.net.endpoints):
                classes[endpoint.ports] = classes.get(endpoint.ports, 0) | 1 << i
            self._port_classes = list(classes.items())
        return self._port_classes

    def compose(self, rules: Sequence[object], isolated: bool,
                ports: tuple[ContainerPort, ...], numeric: bool) -> ConnSet:
        """One class's connections through the tiers; `rules` are the matching rules of
        every tier in evaluation order (admin, NetworkPolicy, baseline)."""
        decided = allowed = denied = NONE
        np_conns = NONE
        base_decided = base_denied = cilium_denied = NONE
        for rule in rules:
            if isinstance(rule, Rule):
                np_conns = np_conns | (rule.numeric_conns() if numeric
                                       else self.net.rules_conns([rule], ports))
                continue
            if isinstance(rule, CiliumRule):
                conns = rule.numeric_conns() if numeric else rule.conns_for(ports)
                if rule.deny:
                    cilium_denied = cilium_denied | conns
                else:
                    np_conns = np_conns | conns
                continue
            assert isinstance(rule, AdminRule)
            conns = rule.numeric_conns() if numeric else rule.conns_for(ports)
            if self._is_baseline(rule):
                if rule.action == DENY:
                    base_denied = base_denied | (conns - base_decided)
                base_decided = base_decided | conns
                continue
            fresh = conns - decided
            if rule.action == ALLOW:
                allowed = allowed | fresh
            elif rule.action == DENY:
                denied = denied | fresh
            decided = decided | conns
        # Cilium deny rules beat every allow of the NetworkPolicy tier (and stand even
        # where no rule set isolates the endpoint)
        denied = denied | cilium_denied
        if isolated:
            result = allowed | (np_conns - denied)
        else:
            result = allowed | ((ALL - denied) - base_denied)
        # interned by value: rows repeat the same few sets, and a set of high ports is a
        # kilobyte-sized integer (one per class would not fit 5,000 workloads in memory)
        return self._interned.setdefault(result, result)

    def _is_baseline(self, rule: AdminRule) -> bool:
        return id(rule) in self._baseline_rules

    def plain(self, index: int, direction: str) -> bool:
        """Whether only NetworkPolicies decide this side (no admin, baseline or Cilium
        rule governs it): then the NetworkPolicy engine's own answer stands."""
        admin, _np_items, baseline = self._items(index, direction)
        return not admin and not baseline and not self.cilium.rows[direction][index] \
            and not self.cilium.isolated(index, direction)

    def side_conns(self, index: int, direction: str, others: int) -> dict[int, ConnSet]:
        out: dict[int, ConnSet] = {}
        for members, conns in self.side_parts(index, direction, others):
            out.update(dict.fromkeys(_bits(members), conns))
        return out

    def pair_side(self, index: int, direction: str, other: int) -> ConnSet:
        parts = self.side_parts(index, direction, 1 << other)
        return parts[0][1] if parts else NONE

    def address_conns(self, index: int, direction: str, address: object) -> ConnSet:
        """What the side admits towards (or from) every address of an IP or CIDR outside
        the cluster's pods: the intersection over the external ranges it overlaps (IPv6:
        only rules that admit every peer can say, so the NetworkPolicy-only answer is not
        refined; such networks are listed in explain's chain)."""
        first = int(getattr(address, "network_address", 0))
        last = int(getattr(address, "broadcast_address", 0))
        if getattr(address, "version", 4) != 4:
            first, last = 0, IPV4_MAX  # conservative: every IPv4 range must admit it
        ranges = self.ranges[direction]
        bits = 0
        for r, (a, b) in enumerate(ranges):
            if a <= last and first <= b:
                bits |= 1 << r
        result = ALL
        for _members, conns in self.side_parts(index, direction, bits, True):
            result = result & conns
        return result

    # ----- all pairs ---------------------------------------------------------------------
    def connections(self, include_external: bool = True) -> list[Connection]:
        """Every allowed (src, dst) pair through the tiers, as ConnectivityAnalysis gives
        them for NetworkPolicy alone."""
        from netpol_fix.engine.connectivity import Connection
        net = self.net
        keys = [e.key for e in net.endpoints]
        everyone = net.all
        # ingress rows have few classes (the destination's ports are fixed): look them up
        # from each egress class, whose rows are the longer ones (named ports)
        ingress_rows = [self.side_parts(i, "Ingress", everyone) for i in range(net.size)]
        merged: dict[tuple[str, str], ConnSet] = {}
        inter: dict[tuple[int, int], tuple[ConnSet, ConnSet, ConnSet]] = {}

        def add(src: str, dst: str, conns: ConnSet) -> None:
            if src == dst or not conns:
                return
            previous = merged.get((src, dst))
            merged[(src, dst)] = conns if previous is None else previous | conns

        for s in range(net.size):
            sbit = 1 << s
            for members, eg in self.side_parts(s, "Egress", everyone):
                if not eg:
                    continue
                for d in _bits(members & ~sbit):
                    ing = NONE
                    for bits, conns in ingress_rows[d]:
                        if bits & sbit:
                            ing = conns
                            break
                    if not ing:
                        continue
                    known = inter.get((id(ing), id(eg)))
                    if known is None:
                        both = ing & eg
                        both = self._interned.setdefault(both, both)
                        known = inter[(id(ing), id(eg))] = (ing, eg, both)
                    add(keys[s], keys[d], known[2])
        if include_external:
            # millions of (endpoint, range) pairs on large trees: the loop kept tight
            for direction in DIRECTIONS:
                self.range_key(direction, 0)
                range_keys = self._range_keys[direction]
                all_ranges = (1 << len(range_keys)) - 1
                inbound = direction == "Ingress"
                for i in range(net.size):
                    key = keys[i]
                    for members, conns in self.side_parts(i, direction, all_ranges, True):
                        if not conns:
                            continue
                        for r in _bits(members):
                            pair = (range_keys[r], key) if inbound else (key, range_keys[r])
                            previous = merged.get(pair)
                            merged[pair] = conns if previous is None else previous | conns
        return [Connection(s, d, c) for (s, d), c in sorted(merged.items())]


def _has_named(rule: object) -> bool:
    return bool(getattr(rule, "has_named_ports", False))


def _rule_intervals(rule: object) -> list[tuple[int, int]]:
    """IPv4 intervals a rule's address peers hold: NetworkPolicy ipBlocks, admin networks
    (nodes and domain names have no known addresses: none)."""
    if isinstance(rule, CiliumRule):
        return cilium_intervals(rule)
    out: list[tuple[int, int]] = []
    if isinstance(rule, Rule):
        for peer in rule.peers:
            if peer.ip_block is not None:
                out.extend(peer.ip_block.intervals(4))
        return out
    assert isinstance(rule, AdminRule)
    for admin_peer in rule.peers:
        for network in admin_peer.networks:
            if network.version == 4:
                out.append((int(network.network_address), int(network.broadcast_address)))
    return out


__all__ = ["TierRule", "Tiers"]
