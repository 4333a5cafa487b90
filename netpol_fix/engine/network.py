"""The inventory compiled for queries: which policies select which pods, which peers match whom.

All matching is set algebra over bitsets (bit i = endpoint i), with label indexes for pods
and namespaces, so a selector costs a few integer operations however many pods there are.
Both `verdict` (one connection, with a trace) and `connectivity` (all pairs) stand on this.

Endpoints are Workloads (pods grouped by owner). hostNetwork pods are endpoints too, but
no policy governs them: they are never isolated, and pod/namespace selectors never match
them as peers (their traffic carries the node's address), only rules that admit every
peer or an ipBlock holding the node's address do.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from netpol_fix.engine.cni import UPSTREAM, CniModel, block_admits_ips, holds_whole
from netpol_fix.engine.label_index import LabelIndex
from netpol_fix.engine.pod_names import is_pod_of
from netpol_fix.inventory.build import Inventory
from netpol_fix.model.connset import ConnSet
from netpol_fix.model.objects import ContainerPort, Workload
from netpol_fix.model.policy import DIRECTIONS, IPBlock, NetworkPolicy, Peer, Rule
from netpol_fix.model.selectors import LabelSelector

if TYPE_CHECKING:
    from netpol_fix.engine.tiers import Tiers


SPARSE_BITS = 32
"""Up to this many set bits, iter_bits peels the lowest bit off one at a time."""


def iter_bits(bits: int) -> Iterator[int]:
    """Indices of the set bits, ascending. Most sets the rules walk are sparse (a peer
    naming one workload among 5,000 endpoints): peeling the lowest bit costs a few word
    operations per set bit, where the binary text of a 5,000-bit integer costs 3-4 us to
    build whatever it holds (measured: one bit of 5,000, 0.7 us against 4.3 us); dense
    sets read the text, one `find` per set bit."""
    if bits.bit_count() <= SPARSE_BITS:
        while bits:
            low = bits & -bits
            yield low.bit_length() - 1
            bits ^= low
        return
    text = bin(bits)[:1:-1]
    index = text.find("1")
    while index >= 0:
        yield index
        index = text.find("1", index + 1)


@dataclass(frozen=True)
class RuleRef:
    """A rule in the context of its policy."""

    policy: NetworkPolicy
    rule: Rule

    @property
    def label(self) -> str:
        return f"NetworkPolicy {self.policy.key} {self.rule.label}"


class PodSelection:
    """Which endpoints a policy's podSelector selects: its namespace's endpoints on the pod
    network whose labels match. The part of a Network that needs no policy, for callers
    that only ask this (rules/context.py, finding the policies that select no pod)."""

    def __init__(self, endpoints: list[Workload], host_network_as_pods: bool = False) -> None:
        self.endpoints = endpoints
        self.host_network_as_pods = host_network_as_pods
        self.size = len(endpoints)
        self.all = (1 << self.size) - 1
        self.pod_index = LabelIndex([e.labels for e in endpoints])
        self.ns_members: dict[str, int] = {}
        host = 0
        for i, endpoint in enumerate(endpoints):
            self.ns_members[endpoint.namespace] = self.ns_members.get(endpoint.namespace, 0) | 1 << i
            if endpoint.host_network and not host_network_as_pods:
                host |= 1 << i
        self.host_network = host
        self.pod_network = self.all & ~host

    def selected(self, policy: NetworkPolicy) -> int:
        """Endpoints a policy applies to: its namespace, podSelector, never hostNetwork."""
        members = self.ns_members.get(policy.namespace, 0) & self.pod_network
        return members & self.pod_index.select(policy.pod_selector) if members else 0


class Network(PodSelection):
    def __init__(self, inventory: Inventory, extra_endpoints: tuple[Workload, ...] = (),
                 host_network_as_pods: bool = False, cni: CniModel = UPSTREAM) -> None:
        """`host_network_as_pods` analyses hostNetwork pods as if they were ordinary pods:
        wrong for Kubernetes, but what netpol-analyzer does, so results can be compared.
        `cni`: what the cluster's plugin enforces (engine/cni.py)."""
        super().__init__(list(inventory.workloads) + list(extra_endpoints),
                         host_network_as_pods)
        self.inventory = inventory
        self.cni = cni
        self.namespace_names = sorted(
            set(inventory.namespaces) | {e.namespace for e in self.endpoints})
        self._ns_index = LabelIndex(
            [inventory.namespace(n).labels for n in self.namespace_names])
        self._peer_cache: dict[tuple[str, LabelSelector | None, LabelSelector | None], int] = {}
        self._block_cache: dict[IPBlock, int] = {}
        self._addressed: list[tuple[int, tuple[str, ...]]] | None = None
        self._unaddressed_pods = self._unaddressed_nodes = 0
        self._kept_rules: dict[int, tuple[Rule, Rule]] = {}
        self._ns_cache: dict[LabelSelector, tuple[str, ...]] = {}
        self._rule_cache: dict[tuple[str, int], tuple[Rule, int]] = {}
        self._by_name: dict[tuple[str, str], NetworkPolicy] | None = None
        self._ids: set[int] | None = None
        self._side_rules: dict[str, dict[int, list[tuple[int, Rule]]]] = {
            "Ingress": {}, "Egress": {}}
        self._conns_cache: dict[tuple[tuple[int, ...], tuple[ContainerPort, ...] | None],
                                tuple[tuple[Rule, ...], ConnSet]] = {}
        # policies selecting each endpoint, per direction they isolate
        self.selected_by: dict[str, list[list[NetworkPolicy]]] = {
            "Ingress": [[] for _ in range(self.size)],
            "Egress": [[] for _ in range(self.size)],
        }
        self.policy_bits: dict[tuple[str, str], int] = {}
        for policy in inventory.policies:
            bits = self.selected(policy)
            self.policy_bits[(policy.namespace, policy.name)] = bits
            if not cni.enforces:
                continue  # the policy exists, and isolates nothing (Flannel)
            for i in iter_bits(bits):
                for direction in policy.policy_types:
                    self.selected_by[direction][i].append(policy)
        self.tiers = _tiers_for(self)
        """The admin and baseline tiers (engine/tiers.py), None without such policies."""

    def with_policies(self, policies: Sequence[NetworkPolicy]) -> Network:
        """This network with another policy list (a fix's patched and created policies):
        same endpoints and namespaces, so label indexes and selector caches are shared and
        only the endpoints that a replaced, removed or added policy selects are re-indexed.
        Building a whole Network per fix would cost more than the fix's analysis on large
        inputs. A replacing policy takes the place of the one of its name in each
        endpoint's list, new ones come last (the order matters to no connectivity query)."""
        added = [p for p in policies if not self.holds(p)]
        replacement: dict[int, NetworkPolicy] = {}
        for policy in added:
            old = self.policy_named(policy.namespace, policy.name)
            if old is not None:
                replacement[id(old)] = policy
        if len(policies) - len(added) == len(self.inventory.policies) - len(replacement):
            removed = [p for p in self.inventory.policies if id(p) in replacement] \
                if replacement else []
        else:
            kept = {id(p) for p in policies}
            removed = [p for p in self.inventory.policies if id(p) not in kept]
        derived = copy.copy(self)
        derived.inventory = replace(self.inventory, policies=list(policies))
        derived.policy_bits = dict(self.policy_bits)
        derived.selected_by = {d: list(lists) for d, lists in self.selected_by.items()}
        derived._side_rules = {"Ingress": {}, "Egress": {}}
        derived._by_name = None
        derived._ids = None
        affected = 0
        removed_ids = {id(p) for p in removed}
        for policy in removed:
            affected |= self.selected(policy)
            derived.policy_bits.pop((policy.namespace, policy.name), None)
        added_bits: dict[int, int] = {}
        for policy in added:
            bits = self.selected(policy)
            derived.policy_bits[(policy.namespace, policy.name)] = bits
            added_bits[id(policy)] = bits
            affected |= bits

        def isolates(policy: NetworkPolicy, i: int, direction: str) -> bool:
            """Whether an added policy selects endpoint i and isolates it in `direction`."""
            return self.cni.enforces and bool(added_bits[id(policy)] >> i & 1) and direction in policy.policy_types

        for i in iter_bits(affected):
            for direction in DIRECTIONS:
                row: list[NetworkPolicy] = []
                for policy in self.selected_by[direction][i]:
                    new = replacement.get(id(policy))
                    if id(policy) not in removed_ids:
                        row.append(policy)
                    elif new is not None and isolates(new, i, direction):
                        row.append(new)
                placed = {id(p) for p in row}
                row += [p for p in added if id(p) not in placed and isolates(p, i, direction)]
                derived.selected_by[direction][i] = row
        derived.tiers = self.tiers.derived(derived) if self.tiers is not None else None
        return derived

    def holds(self, policy: NetworkPolicy) -> bool:
        """Whether this very policy object is one of the network's policies."""
        if self._ids is None:
            self._ids = {id(p) for p in self.inventory.policies}
        return id(policy) in self._ids

    def policy_named(self, namespace: str, name: str) -> NetworkPolicy | None:
        """The policy of that name, from an index built on first use."""
        if self._by_name is None:
            self._by_name = {(p.namespace, p.name): p for p in self.inventory.policies}
        return self._by_name.get((namespace, name))

    # ----- selection -------------------------------------------------------------------
    def namespaces_matching(self, selector: LabelSelector) -> tuple[str, ...]:
        cached = self._ns_cache.get(selector)
        if cached is None:
            bits = self._ns_index.select(selector)
            cached = tuple(self.namespace_names[i] for i in iter_bits(bits))
            self._ns_cache[selector] = cached
        return cached

    def peer_bits(self, policy: NetworkPolicy, peer: Peer) -> int:
        """Endpoints a selector peer of the policy matches (0 for an ipBlock peer)."""
        return self.peer_bits_in(policy.namespace, peer)

    def peer_bits_in(self, namespace: str, peer: Peer) -> int:
        """Endpoints a peer of a policy in `namespace` matches: by selectors, or for an
        ipBlock the endpoints whose addresses it holds, as the CNI matches them."""
        if peer.ip_block is not None:
            return self.ip_block_bits(peer.ip_block)
        key = (namespace, peer.pod_selector, peer.namespace_selector)
        cached = self._peer_cache.get(key)
        if cached is not None:
            return cached
        if peer.namespace_selector is None:
            members = self.ns_members.get(namespace, 0)
        else:
            members = 0
            for ns in self.namespaces_matching(peer.namespace_selector):
                members |= self.ns_members.get(ns, 0)
        members &= self.pod_network
        if members and peer.pod_selector is not None:
            members &= self.pod_index.select(peer.pod_selector)
        self._peer_cache[key] = members
        return members

    def ip_block_bits(self, block: IPBlock) -> int:
        """Endpoints an ipBlock admits (engine/cni.py): a pod when the CNI matches pod
        addresses and every address of the workload (status.podIPs) is in the block, or,
        with no address known, when the block holds the whole --pod-cidr; a hostNetwork
        endpoint likewise by its node's address (its pod IP) or the whole --node-cidr.
        Never under netpol-analyzer's model or Cilium."""
        cni = self.cni
        if not cni.ip_aware:
            return 0
        cached = self._block_cache.get(block)
        if cached is not None:
            return cached
        if self._addressed is None:
            self._index_addresses()
        assert self._addressed is not None
        bits = 0
        for i, ips in self._addressed:
            if block_admits_ips(block, ips):
                bits |= 1 << i
        if cni.ip_blocks_match_pods and holds_whole(block, cni.pod_cidr):
            bits |= self._unaddressed_pods
        if cni.ip_blocks_match_nodes and (
                (cni.node_cidr is not None and holds_whole(block, cni.node_cidr))
                or bool(cni.node_addresses)
                and block_admits_ips(block, cni.node_addresses) is True):
            bits |= self._unaddressed_nodes
        self._block_cache[block] = bits
        return bits

    def _index_addresses(self) -> None:
        """Which endpoints an ipBlock can match by their own addresses, and the masks of
        those without one (matched only by a block holding the whole pod or node range),
        so that a block costs a pass over the addressed endpoints only."""
        cni = self.cni
        addressed: list[tuple[int, tuple[str, ...]]] = []
        pods = nodes = 0
        for i, endpoint in enumerate(self.endpoints):
            on_host = endpoint.host_network and not self.host_network_as_pods
            if not (cni.ip_blocks_match_nodes if on_host else cni.ip_blocks_match_pods):
                continue
            if endpoint.ips:
                addressed.append((i, endpoint.ips))
            elif on_host:
                nodes |= 1 << i
            else:
                pods |= 1 << i
        self._addressed, self._unaddressed_pods, self._unaddressed_nodes = \
            addressed, pods, nodes

    def enforced_rule(self, rule: Rule) -> Rule:
        """The rule as the CNI enforces it: under AWS VPC CNI only its first port entries
        (engine/cni.py); the rule itself everywhere else."""
        if self.cni.port_entry_limit is None or len(rule.ports) <= self.cni.port_entry_limit:
            return rule
        entry = self._kept_rules.get(id(rule))
        if entry is None or entry[0] is not rule:
            kept, _dropped = self.cni.kept_ports(rule.ports)
            entry = (rule, replace(rule, ports=kept))
            self._kept_rules[id(rule)] = entry
        return entry[1]

    def rule_conns(self, rule: Rule, ports: tuple[ContainerPort, ...]) -> ConnSet:
        """What one rule admits towards a destination with `ports`, as enforced."""
        return self.enforced_rule(rule).conns_for(ports)

    def rule_numeric_conns(self, rule: Rule) -> ConnSet:
        """What one rule admits towards an address (named ports match nothing), as enforced."""
        return self.enforced_rule(rule).numeric_conns()

    def rule_peer_bits(self, policy: NetworkPolicy, rule: Rule) -> int:
        """Endpoints any peer of the rule matches; every endpoint for a rule without peers."""
        return self.rule_peer_bits_in(policy.namespace, rule)

    def rule_peer_bits_in(self, namespace: str, rule: Rule) -> int:
        """`rule_peer_bits` for a rule of a policy in `namespace`."""
        if rule.all_peers:
            return self.all
        # keyed by identity (hashing a rule's peers costs more than the lookup saves); the
        # entry holds the rule, so its id cannot be reused while cached
        key = (namespace, id(rule))
        entry = self._rule_cache.get(key)
        if entry is None or entry[0] is not rule:
            bits = 0
            for peer in rule.peers:
                bits |= self.peer_bits_in(namespace, peer)
            entry = (rule, bits)
            self._rule_cache[key] = entry
        return entry[1]

    def isolated(self, index: int, direction: str) -> bool:
        return bool(self.selected_by[direction][index])

    def policies_for(self, index: int, direction: str) -> list[NetworkPolicy]:
        return self.selected_by[direction][index]

    def rule_admits_ip(
        self, rule: Rule, address: ipaddress.IPv4Address | ipaddress.IPv6Address
    ) -> bool:
        if rule.all_peers:
            return True
        return any(p.ip_block is not None and p.ip_block.contains(address) for p in rule.peers)

    # ----- lookups ---------------------------------------------------------------------
    def find(self, namespace: str, name: str) -> list[int]:
        """Endpoints named `name` in `namespace`: workload name, pod name or `name[Kind]`."""
        found = []
        for i, e in enumerate(self.endpoints):
            if e.namespace != namespace:
                continue
            if name in (e.name, f"{e.name}[{e.kind}]") or name in e.pods:
                found.append(i)
        if not found:
            # pods read from a cluster group under their ReplicaSet `web-7c9f8d`: let the
            # Deployment's name find them (the pod-template-hash label confirms the suffix)
            for i, e in enumerate(self.endpoints):
                if e.namespace == namespace and e.kind == "ReplicaSet" \
                        and e.name == f"{name}-{e.labels.get('pod-template-hash', '')}":
                    found.append(i)
        if not found:
            # a pod name as `kubectl get pods` prints it: web-7c9f8d6b5-x2k9q, db-0
            found = [i for i, e in enumerate(self.endpoints) if e.namespace == namespace
                     and not e.representative and is_pod_of(name, e.name, e.kind)]
        return found

    def ingress_conns(self, src: int, dst: int) -> ConnSet:
        """What dst's ingress side admits from endpoint src (ALL when dst is not isolated)."""
        if self.tiers is not None and not self.tiers.plain(dst, "Ingress"):
            return self.tiers.pair_side(dst, "Ingress", src)
        if not self.selected_by["Ingress"][dst]:
            return ConnSet.all()
        return self.rules_conns([rule for bits, rule in self.side_rules(dst, "Ingress")
                                 if bits >> src & 1], self.endpoints[dst].ports)

    def egress_conns(self, src: int, dst: int) -> ConnSet:
        """What src's egress side admits towards endpoint dst (ALL when src is not isolated)."""
        if self.tiers is not None and not self.tiers.plain(src, "Egress"):
            return self.tiers.pair_side(src, "Egress", dst)
        if not self.selected_by["Egress"][src]:
            return ConnSet.all()
        return self.rules_conns([rule for bits, rule in self.side_rules(src, "Egress")
                                 if bits >> dst & 1], self.endpoints[dst].ports)

    def side_conns(self, index: int, direction: str, others: int) -> dict[int, ConnSet]:
        """What endpoint `index`'s side admits, per endpoint of `others`: its egress towards
        each, or its ingress from each. One pass over its rules for the whole row: the
        others are split by which rules' peers match them, and each group's union is
        computed once (per destination only when a rule names ports)."""
        if self.tiers is not None and not self.tiers.plain(index, direction):
            return self.tiers.side_conns(index, direction, others)
        if not self.selected_by[direction][index]:
            return dict.fromkeys(iter_bits(others), ConnSet.all())
        parts: list[tuple[int, list[Rule]]] = [(others, [])]
        for bits, rule in self.side_rules(index, direction):
            split: list[tuple[int, list[Rule]]] = []
            for members, rules in parts:
                inside = members & bits
                if inside:
                    split.append((inside, [*rules, rule]))
                if members ^ inside:
                    split.append((members ^ inside, rules))
            parts = split
        result: dict[int, ConnSet] = {}
        for members, rules in parts:
            if direction == "Ingress" or not any(rule.has_named_ports for rule in rules):
                ports = self.endpoints[index].ports if direction == "Ingress" else ()
                result.update(dict.fromkeys(iter_bits(members), self.rules_conns(rules, ports)))
                continue
            for other in iter_bits(members):
                result[other] = self.rules_conns(rules, self.endpoints[other].ports)
        return result

    def side_rules(self, index: int, direction: str) -> list[tuple[int, Rule]]:
        """(peer endpoints, rule) for every rule of the policies isolating the endpoint in
        one direction, memoised per endpoint: pair loops ask for the same rows again."""
        rows = self._side_rules[direction]
        row = rows.get(index)
        if row is None:
            row = [(self.rule_peer_bits(policy, rule), rule)
                   for policy in self.selected_by[direction][index]
                   for rule in policy.rules(direction)]
            rows[index] = row
        return row

    def rules_conns(self, rules: list[Rule], ports: tuple[ContainerPort, ...]) -> ConnSet:
        """The union of what `rules` admit towards a destination with `ports`, memoised:
        all-pairs callers meet the same few rule combinations again and again, and a union
        of port sets is a handful of 8 KB integer operations."""
        if not rules:
            return ConnSet.none()
        named = any(rule.has_named_ports for rule in rules)
        key = (tuple(map(id, rules)), ports if named else None)
        entry = self._conns_cache.get(key)
        if entry is None:
            conns = ConnSet.none()
            for rule in rules:
                conns = conns | self.enforced_rule(rule).conns_for(ports)
            # the entry holds the rules, so their ids cannot be reused while cached
            entry = (tuple(rules), conns)
            self._conns_cache[key] = entry
        return entry[1]


def _tiers_for(network: Network) -> Tiers | None:
    """The tiers (admin, baseline, Cilium policies in the NetworkPolicy tier), imported only
    when the inventory has such policies."""
    from netpol_fix.engine.tiers import admin_enforced, cilium_enforced

    if not network.cni.enforces or not (
            (network.inventory.admin_policies and admin_enforced(network.cni.name))
            or (network.inventory.cilium and cilium_enforced(network.cni.name))):
        return None
    from netpol_fix.engine.tiers import Tiers
    return Tiers(network)
