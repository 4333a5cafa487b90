"""All allowed connections between endpoints and external address ranges.

A connection is allowed when the source's egress side and the destination's ingress side
both admit it. Rules are evaluated once per (rule, endpoint set) as bitsets, then combined
per destination; per-pair work happens only for pairs some rule actually admits.

External peers follow netpol-analyzer: the IPv4 space is cut at every ipBlock boundary of
every policy into disjoint ranges, each range one peer; ipBlocks never match pods.
"""

from __future__ import annotations

import bisect
import ipaddress
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from netpol_fix.engine.network import Network, iter_bits
from netpol_fix.model.connset import ConnSet
from netpol_fix.model.policy import NetworkPolicy, Rule

IPV4_MAX = (1 << 32) - 1


@dataclass(frozen=True)
class ExternalRange:
    first: int
    last: int

    @property
    def key(self) -> str:
        return f"{ipaddress.IPv4Address(self.first)}-{ipaddress.IPv4Address(self.last)}[External]"

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True)
class Connection:
    src: str
    dst: str
    conns: ConnSet


def external_ranges(policies: list[NetworkPolicy], direction: str) -> list[ExternalRange]:
    """The IPv4 space cut at every boundary (start, and end + 1) of the ipBlocks that
    the rules of one direction name: external peers are these ranges."""
    cuts = {0, IPV4_MAX + 1}
    for policy in policies:
        for rule in policy.rules(direction):
            for peer in rule.peers:
                if peer.ip_block is None:
                    continue
                for a, b in peer.ip_block.intervals(4):
                    cuts.add(a)
                    cuts.add(b + 1)
    ordered = sorted(cuts)
    return [ExternalRange(a, b - 1) for a, b in itertools.pairwise(ordered)]


class ConnectivityAnalysis:
    def __init__(self, network: Network) -> None:
        self.network = network
        policies = network.inventory.policies
        self.ranges = {d: external_ranges(policies, d) for d in ("Ingress", "Egress")}
        self._keys = {d: [r.key for r in ranges] for d, ranges in self.ranges.items()}
        self._starts = {d: [r.first for r in ranges] for d, ranges in self.ranges.items()}
        self._rule_ext_cache: dict[int, int] = {}

    def rule_external_bits(self, rule: Rule) -> int:
        """External ranges a rule's peers admit (all of them for a rule without peers)."""
        ranges = self.ranges[rule.direction]
        if rule.all_peers:
            return (1 << len(ranges)) - 1
        cached = self._rule_ext_cache.get(id(rule))
        if cached is not None:
            return cached
        starts = self._starts[rule.direction]
        bits = 0
        for peer in rule.peers:
            if peer.ip_block is None:
                continue
            for a, b in peer.ip_block.intervals(4):
                # ranges are cut at every boundary: find those inside [a, b]
                i = bisect.bisect_left(starts, a)
                while i < len(ranges) and ranges[i].last <= b:
                    bits |= 1 << i
                    i += 1
        self._rule_ext_cache[id(rule)] = bits
        return bits

    def _ingress_entries(self, dst: int) -> list[tuple[int, int, ConnSet]] | None:
        """(source endpoints, source ranges, conns) per ingress rule; None = not isolated."""
        net = self.network
        if not net.isolated(dst, "Ingress"):
            return None
        ports = net.endpoints[dst].ports
        entries = []
        for policy in net.policies_for(dst, "Ingress"):
            for rule in policy.ingress:
                conns = net.rules_conns([rule], ports)  # shared with every other pair
                if conns:
                    entries.append((net.rule_peer_bits(policy, rule),
                                    self.rule_external_bits(rule), conns))
        return entries

    def _egress_entries(self, src: int) -> list[tuple[int, int, Rule]] | None:
        net = self.network
        if not net.isolated(src, "Egress"):
            return None
        entries = []
        for policy in net.policies_for(src, "Egress"):
            for rule in policy.egress:
                entries.append((net.rule_peer_bits(policy, rule),
                                self.rule_external_bits(rule), rule))
        return entries

    def connections(self, include_external: bool = True) -> list[Connection]:
        """Every allowed (src, dst) pair with its connections; self-pairs left out."""
        net = self.network
        if net.tiers is not None:  # admin and baseline tiers: engine/tiers.py
            return net.tiers.connections(include_external)
        n = net.size
        egress = [self._egress_entries(i) for i in range(n)]
        ingress = [self._ingress_entries(i) for i in range(n)]
        keys = [e.key for e in net.endpoints]
        merged: dict[tuple[str, str], ConnSet] = {}
        # Pairs share a few distinct port sets, and a set of high ports is a kilobyte-sized
        # integer: both sides come from the network's memo, unions and intersections are
        # memoised by the identities of their operands and the results interned by value,
        # so a repository where most pods talk (790,000 allowed pairs at 5,000 workloads)
        # does not hold one per pair (measured there: peak 1.6 GB -> 0.7 GB).
        intersections: dict[tuple[int, int], tuple[ConnSet, ConnSet, ConnSet]] = {}
        unions: dict[tuple[int, int], tuple[ConnSet, ConnSet, ConnSet]] = {}
        interned: dict[ConnSet, ConnSet] = {}

        def add(src: str, dst: str, conns: ConnSet) -> None:
            if src == dst or not conns:
                return
            previous = merged.get((src, dst))
            merged[(src, dst)] = conns if previous is None else previous | conns

        for d in range(n):
            entries = ingress[d]
            if entries is None:
                candidates = net.all
            else:
                candidates = 0
                for bits, _ext, _conns in entries:
                    candidates |= bits
            dst_ports = net.endpoints[d].ports
            dbit = 1 << d
            for s in iter_bits(candidates):
                if s == d:
                    continue
                if entries is None:
                    ing = ConnSet.all()
                else:
                    sbit = 1 << s
                    ing = ConnSet.none()
                    for bits, _ext, conns in entries:
                        if bits & sbit:
                            known = unions.get((id(ing), id(conns)))
                            if known is None:
                                known = unions[(id(ing), id(conns))] = (ing, conns, ing | conns)
                            ing = known[2]
                eg_entries = egress[s]
                if eg_entries is None:
                    add(keys[s], keys[d], ing)
                    continue
                eg = net.rules_conns([rule for bits, _ext, rule in eg_entries if bits & dbit],
                                     dst_ports)
                known = intersections.get((id(ing), id(eg)))
                if known is None:
                    both = ing & eg
                    both = interned.setdefault(both, both)
                    known = intersections[(id(ing), id(eg))] = (ing, eg, both)
                add(keys[s], keys[d], known[2])
        if include_external:
            for i in range(n):
                self._external_pairs(i, ingress[i], egress[i], add)
        return [Connection(s, d, c) for (s, d), c in sorted(merged.items())]

    def _external_pairs(self, i: int, ingress: list[tuple[int, int, ConnSet]] | None,
                        egress: list[tuple[int, int, Rule]] | None,
                        add: Callable[[str, str, ConnSet], None]) -> None:
        """Pairs between endpoint i and the external ranges of each direction."""
        key = self.network.endpoints[i].key
        in_keys, out_keys = self._keys["Ingress"], self._keys["Egress"]
        if ingress is None:
            for rng_key in in_keys:
                add(rng_key, key, ConnSet.all())
        else:
            into: dict[int, ConnSet] = {}
            for _bits, ext, conns in ingress:
                for r in iter_bits(ext):
                    previous = into.get(r)
                    into[r] = conns if previous is None else previous | conns
            for r, conns in into.items():
                add(in_keys[r], key, conns)
        if egress is None:
            for rng_key in out_keys:
                add(key, rng_key, ConnSet.all())
        else:
            out: dict[int, ConnSet] = {}
            for _bits, ext, rule in egress:
                conns = self.network.rule_numeric_conns(rule)
                for r in iter_bits(ext):
                    previous = out.get(r)
                    out[r] = conns if previous is None else previous | conns
            for r, conns in out.items():
                add(key, out_keys[r], conns)


def connectivity(network: Network) -> list[Connection]:
    return ConnectivityAnalysis(network).connections()


__all__ = ["Connection", "ConnectivityAnalysis", "ExternalRange", "connectivity",
           "external_ranges", "iter_bits"]
