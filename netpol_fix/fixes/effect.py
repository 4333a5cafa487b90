"""What a fix opens, computed rather than asserted: connectivity before and after.

The patched objects are re-parsed with the same parser the analysis uses, a second Network
is built with the same endpoints, and every pair whose source or destination any changed
policy selects (before or after) is compared. The differences are the flows that the fix
opens and those it closes, which findings and pull requests state.
"""

from __future__ import annotations

import copy
import heapq
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from netpol_fix.engine.network import Network, iter_bits
from netpol_fix.engine.tier_overriding import overriding_denied
from netpol_fix.inventory.build import NAME_LABEL, Inventory
from netpol_fix.inventory.policies import parse_network_policy
from netpol_fix.model.cilium_policy import CiliumRule
from netpol_fix.model.connset import ALL_PORTS, PROTOCOLS, ConnSet, iter_ranges
from netpol_fix.model.findings import Fix, Flow, Patch
from netpol_fix.model.objects import Namespace, endpoint_ref
from netpol_fix.model.policy import DIRECTIONS, NetworkPolicy, Peer, Rule
from netpol_fix.model.selectors import LabelSelector


def patched_policies(inventory: Inventory, patches: Sequence[Patch],
                     created: Sequence[NetworkPolicy] = ()) -> list[NetworkPolicy]:
    """The inventory's policies with the patches applied (NetworkPolicy patches only)."""
    by_key = {(p.object.namespace, p.object.name): p for p in patches
              if p.object.kind == "NetworkPolicy"}
    result = list(inventory.policies)
    if by_key:
        for i, policy in enumerate(result):
            patch = by_key.get((policy.namespace, policy.name))
            if patch is None or policy.source is None:
                continue
            import jsonpatch  # only when a patch is applied: `netpol-fix rules` never is

            obj = jsonpatch.apply_patch(copy.deepcopy(policy.source.obj), patch.operations)
            result[i] = parse_network_policy(obj, policy.namespace, policy.source)
    return result + list(created)


def flows_between(before: ConnSet, after: ConnSet, src: str, dst: str, icmp: bool = False
                  ) -> list[Flow]:
    """Flows in `after` and not in `before`, one per protocol port range (with `icmp`,
    ICMP and the other protocols as an `ICMP` flow, as cilium-icmp-denied says them)."""
    gained = after - before
    if not gained:
        return []
    if gained.tcp == ALL_PORTS and gained.udp == ALL_PORTS and gained.sctp == ALL_PORTS:
        return [Flow(src, dst, None)]
    flows = []
    for protocol in PROTOCOLS:
        bits = gained.bits(protocol)
        if bits == ALL_PORTS:
            flows.append(Flow(src, dst, protocol))
            continue
        for first, last in iter_ranges(bits):
            flows.append(Flow(src, dst, protocol, first, last if last != first else None))
    if gained.other and icmp:
        flows.append(Flow(src, dst, "ICMP"))
    return flows


def flows_opened(network: Network, new_policies: Sequence[NetworkPolicy]) -> list[Flow]:
    """Flows allowed with `new_policies` that `network` (the current state) denies."""
    return flow_changes(network, new_policies)[0]


def flows_opened_by_rules(network: Network, namespace: str, selected: int, direction: str,
                          rules: Sequence[Rule]) -> list[Flow]:
    """Flows that `rules` (parsed with `parse_rules`) open in `direction` for the endpoints
    `selected` of `namespace`, when appended to a policy that selects exactly them or
    written in a new policy that does: what `flows_opened(network, patched_policies(...))`
    says for such a patch, without patching and re-parsing a policy or deriving a network
    (see pairs_opened_by_rules)."""
    return pair_flows(network, pairs_opened_by_rules(network, namespace, selected, direction,
                                                     rules))


OpenedPair = tuple[int, int, ConnSet]
"""(source, destination, the connections a fix opens between them)."""


def pairs_opened_by_rules(network: Network, namespace: str, selected: int, direction: str,
                          rules: Sequence[Rule]) -> list[OpenedPair]:
    """The pairs `rules` open (see flows_opened_by_rules), each with what it gains.
    Every selected endpoint must already be isolated in that direction: then rules only add
    allowances, and only on the pairs between the selected pods and the endpoints the new
    rules' peers match: for each such pair, what the new rules admit and the side did not,
    as far as the other side allows it. (Any other patch goes through `flows_opened`.)
    The work is per pair the new rules name, never per pair of the network."""
    if any(not network.isolated(i, direction) for i in iter_bits(selected)):
        raise ValueError(f"not every endpoint selected in {namespace} is isolated for "
                         f"{direction}: new rules would isolate it")
    # (endpoints a rule's peers match, the rule, what it admits when it names no port: the
    # same towards every destination). A fix's rules are its own: they stay out of the
    # network's rule caches, which would keep every fix's rules alive for the whole run.
    peers = [(network.all if rule.all_peers
              else _bits_or(network.peer_bits_in(namespace, peer) for peer in rule.peers),
              rule, None if rule.has_named_ports else rule.numeric_conns())
             for rule in rules]
    return _opened_pairs(network, selected, direction, peers)


def pairs_opened_by_cilium_rules(network: Network, selected: int, direction: str,
                                 rules: Sequence[CiliumRule]) -> list[OpenedPair]:
    """The pairs that Cilium allow rules (parsed in their policy's namespace) open when
    added to a rule set selecting exactly `selected`, every one of which the tiers already
    isolate in `direction`: in the NetworkPolicy tier, Cilium allows join the
    NetworkPolicy allows (Cilium's "policies are additive"), so the same per-pair walk as
    for NetworkPolicy rules, through the tiers."""
    tiers = network.tiers
    if tiers is None or any(not tiers.isolated(i, direction) for i in iter_bits(selected)):
        raise ValueError(f"not every selected endpoint is isolated for {direction}: new "
                         "rules would isolate it")
    peers = []
    for rule in rules:
        if rule.all_peers:
            bits = network.all
        else:
            bits = _bits_or(tiers.cilium.endpoint_bits(e) for e in rule.endpoints) \
                & network.pod_network
        peers.append((bits, rule, None if rule.has_named_ports else rule.numeric_conns()))
    return _opened_pairs(network, selected, direction, peers)


_RulePeers = list[tuple[int, Any, ConnSet | None]]
"""(endpoints a new rule's peers match, the rule, its connections when they are the same
towards every destination)."""


def _opened_pairs(network: Network, selected: int, direction: str, peers: _RulePeers
                  ) -> list[OpenedPair]:
    """What new allow rules of the NetworkPolicy tier open for the `selected` endpoints
    (isolated in `direction`). Without admin or Cilium policies a pair gains what the rules
    admit beyond its side's rules. Through the tiers (engine/tiers.py) an isolated side
    admits `A | (NP - D - CD)`: new allows add `new - D - CD` to it, so what an
    AdminNetworkPolicy Deny (not decided by an earlier Allow or Pass) or a Cilium deny rule
    drops first is not opened (engine/tier_overriding.py: the same composition); an admin
    Pass hands the connection to the NetworkPolicy tier, which the new rules now admit."""
    counterparts = _bits_or(bits for bits, _, _ in peers)
    endpoints = network.endpoints
    tiered = network.tiers is not None
    opened: list[OpenedPair] = []
    for own in iter_bits(selected if counterparts else 0):
        others = counterparts & ~(1 << own)
        added: dict[int, ConnSet] = {}
        for bits, rule, fixed in peers:
            for other in iter_bits(bits & others):
                dst = other if direction == "Egress" else own
                conns = fixed if fixed is not None else rule.conns_for(endpoints[dst].ports)
                previous = added.get(other)
                added[other] = conns if previous is None else previous | conns
        if not added:
            continue
        for other, now in network.side_conns(own, direction, others).items():
            gained = added[other] - now
            if gained and tiered:
                gained = gained - overriding_denied(network, own, direction, other)[0]
            if not gained:
                continue
            src, dst = (own, other) if direction == "Egress" else (other, own)
            beyond = network.ingress_conns(src, dst) if direction == "Egress" \
                else network.egress_conns(src, dst)
            gained = gained & beyond
            if gained:
                opened.append((src, dst, gained))
    return opened


def pair_flows(network: Network, pairs: Iterable[OpenedPair]) -> list[Flow]:
    """The flows of opened pairs, each once, sorted (see unique_flows)."""
    refs = network.endpoints
    flows: list[Flow] = []
    for src, dst, gained in pairs:
        flows.extend(flows_between(ConnSet.none(), gained, endpoint_ref(refs[src]),
                                   endpoint_ref(refs[dst]), icmp=True))
    return unique_flows(flows)


def listed_opens(network: Network, pairs: list[OpenedPair], limit: int | None
                 ) -> dict[str, Any]:
    """A Fix's `opens`, `opens_pairs` and `all_opens` for these opened pairs: the flows of
    the first `limit` pairs in the order flows are listed (by source, then destination),
    the exact count of pairs (distinct (source, destination) pairs; a pair twice, from two
    new policies, counts once) and every flow on demand. Sorting the pairs by their
    endpoints' names costs a key per pair; no flow is built beyond the listed ones."""
    endpoints = network.endpoints
    by_pair: dict[tuple[int, int], ConnSet] = {}
    for src, dst, gained in pairs:
        known = by_pair.get((src, dst))
        by_pair[(src, dst)] = gained if known is None else known | gained
    count = len(by_pair)
    if limit is None or count <= limit:
        return {"opens": pair_flows(network, ((s, d, c) for (s, d), c in by_pair.items())),
                "opens_pairs": count}
    first = heapq.nsmallest(limit, by_pair, key=lambda pair: (
        endpoint_ref(endpoints[pair[0]]), endpoint_ref(endpoints[pair[1]])))
    return {"opens": pair_flows(network, ((s, d, by_pair[(s, d)]) for s, d in first)),
            "opens_pairs": count,
            "all_opens": lambda: pair_flows(network, ((s, d, c)
                                                      for (s, d), c in by_pair.items()))}


def bounded_opens(fix: Fix, limit: int | None) -> None:
    """Cut a fix's complete `opens` to the flows of its first `limit` pairs, keeping the
    count and the whole list on demand (for fixes whose flows were computed in full)."""
    if limit is None or fix.opens_pairs is not None or fix.all_opens is not None:
        return
    pairs: dict[tuple[str, str], None] = {}
    for flow in fix.opens:
        pairs.setdefault((flow.source, flow.destination))
    if len(pairs) <= limit:
        fix.opens_pairs = len(pairs)
        return
    kept = set(list(pairs)[:limit]) if fix.opens == unique_flows(fix.opens) \
        else set(sorted(pairs)[:limit])
    complete = fix.opens
    fix.opens = [f for f in complete if (f.source, f.destination) in kept]
    fix.opens_pairs = len(pairs)
    fix.all_opens = lambda: complete


def describe_rules(namespace: str, pod_selector: LabelSelector, direction: str,
                   rules: Sequence[Rule]) -> list[str]:
    """What rules in a policy of `namespace` selecting `pod_selector` allow, as the rules
    say it: `from pods app=web in namespace shop to pods app=db in namespace data on TCP
    5432`. An empty podSelector is said for what it is: every pod of the namespace, those
    created later included."""
    own = _pods(pod_selector, namespace)
    said = []
    for rule in rules:
        ports = ", ".join(str(p) for p in rule.ports) if rule.ports else "every port"
        peers = [_peer_text(peer, namespace) for peer in rule.peers] or ["every peer"]
        for peer in peers:
            ends = f"from {own} to {peer}" if direction == "Egress" else f"from {peer} to {own}"
            said.append(f"{ends} on {ports}")
    return list(dict.fromkeys(said))


def describe_cilium_rules(namespace: str, pod_selector: LabelSelector | None, direction: str,
                          rules: Sequence[CiliumRule]) -> list[str]:
    """What Cilium allow rules in a rule set of `namespace` selecting `pod_selector` allow,
    said as describe_rules says NetworkPolicy rules (`on TCP 5432`, `on every port`)."""
    own = _pods(pod_selector, namespace)
    said = []
    for rule in rules:
        ports = [str(p) for p in rule.ports] + (["ICMP"] if rule.icmp else [])
        on = ", ".join(ports) if ports else "every port"
        peers = ["every peer"] if rule.all_peers else [_endpoints_text(e, namespace)
                                                       for e in rule.endpoints]
        for peer in peers:
            ends = f"from {own} to {peer}" if direction == "Egress" else f"from {peer} to {own}"
            said.append(f"{ends} on {on}")
    return list(dict.fromkeys(said))


def _endpoints_text(selector: Any, namespace: str) -> str:
    ns = selector.namespace_selector
    if ns is None:
        where = "every namespace"
    else:
        names = [value for key, value in ns.match_labels if key == NAME_LABEL]
        where = f"namespace {names[0]}" if len(names) == 1 and len(ns.requirements()) == 1 \
            else f"namespaces {ns}"
    pods = selector.pod_selector
    if pods is None or pods.is_empty:
        return f"every pod of {where}"
    return f"pods {pods} in {where}"


def _pods(selector: LabelSelector | None, namespace: str) -> str:
    if selector is None or selector.is_empty:
        return f"every pod of namespace {namespace} (podSelector {{}}: also pods created later)"
    return f"pods {selector} in namespace {namespace}"


def _peer_text(peer: Peer, namespace: str) -> str:
    if peer.ip_block is not None:
        return f"ipBlock {peer.ip_block}"
    ns = peer.namespace_selector
    if ns is None:
        where = f"namespace {namespace}"
    elif ns.is_empty:
        where = "every namespace"
    else:
        names = [value for key, value in ns.match_labels if key == NAME_LABEL]
        where = f"namespace {names[0]}" if len(names) == 1 and len(ns.requirements()) == 1 \
            else f"namespaces {ns}"
    pods = peer.pod_selector
    if pods is None or pods.is_empty:
        return f"every pod of {where}"
    return f"pods {pods} in {where}"


def _bits_or(values: Iterable[int]) -> int:
    bits = 0
    for value in values:
        bits |= value
    return bits


def flows_closed(network: Network, new_policies: Sequence[NetworkPolicy]) -> list[Flow]:
    """Flows `network` (the current state) allows that `new_policies` deny."""
    return flow_changes(network, new_policies)[1]


def flow_changes(network: Network, new_policies: Sequence[NetworkPolicy],
                 namespaces: Mapping[str, Namespace] | None = None,
                 ) -> tuple[list[Flow], list[Flow]]:
    """(opened, closed): how connectivity changes with `new_policies` (and, for a fix that
    relabels namespaces, `namespaces` in place of the inventory's).

    Only pairs with an endpoint that a changed policy selects (before or after) can change,
    on the side of the direction that changed: as destination for ingress, as source for
    egress; and when only its rules changed, only towards the endpoints that the peers of
    the changed rules match. A relabelled namespace changes only what namespaceSelectors
    match in it: the pairs between the pods of the policies whose selectors now decide
    differently and the namespace's pods. A policy whose patch changes no decision
    (policyTypes written as the API defaults them) touches nothing.
    """
    after = network_with(network, new_policies, namespaces)
    relabelled = _relabelled(network, namespaces) if namespaces is not None else {}
    relabelled_members = 0
    for name in relabelled:
        relabelled_members |= network.ns_members.get(name, 0)
    # (endpoints whose side of `direction` may change, the counterparts they may change
    # towards): a policy that only gains or changes rules changes nothing towards pods
    # that those rules' peers do not match
    touched: dict[str, list[tuple[int, int]]] = {"Ingress": [], "Egress": []}
    for policy in new_policies:
        if network.holds(policy):
            # a namespace's new labels change only what peers match in that namespace
            for direction in DIRECTIONS if relabelled else ():
                if _reads_changed_labels(policy, direction, relabelled):
                    touched[direction].append((network.selected(policy), relabelled_members))
            continue
        previous = network.policy_named(policy.namespace, policy.name)
        for direction in DIRECTIONS:
            if previous is not None and not _side_differs(previous, policy, direction):
                continue
            own = network.selected(policy)
            if previous is not None:
                own |= network.selected(previous)
            touched[direction].append(
                (own, _counterparts(network, after, previous, policy, direction)))
    # Which pairs changed at all: each touched endpoint's side, row by row, before and after
    # (kept: a changed pair reads the other side only).
    sides: dict[tuple[str, int, int], tuple[ConnSet, ConnSet]] = {}
    for direction in DIRECTIONS:
        rows: dict[int, int] = {}
        for own, counterparts in touched[direction]:
            for i in iter_bits(own):
                rows[i] = rows.get(i, 0) | counterparts
        for i, others in rows.items():
            others &= ~(1 << i)
            if not others:
                continue
            now_row = after.side_conns(i, direction, others)
            for j, conns in network.side_conns(i, direction, others).items():
                if now_row[j] != conns:
                    pair = (j, i) if direction == "Ingress" else (i, j)
                    sides[(direction, *pair)] = (conns, now_row[j])
    changed = sorted({(s, d) for _, s, d in sides})
    opened: list[Flow] = []
    closed: list[Flow] = []
    refs = [endpoint_ref(e) for e in network.endpoints]
    for s, d in changed:
        in_before, in_now = sides.get(("Ingress", s, d)) or (network.ingress_conns(s, d),) * 2
        out_before, out_now = sides.get(("Egress", s, d)) or (network.egress_conns(s, d),) * 2
        before = in_before & out_before
        now = in_now & out_now
        opened.extend(flows_between(before, now, refs[s], refs[d]))
        closed.extend(flows_between(now, before, refs[s], refs[d]))
    return unique_flows(opened), unique_flows(closed)


def _counterparts(network: Network, after: Network, previous: NetworkPolicy | None,
                  policy: NetworkPolicy, direction: str) -> int:
    """Endpoints towards which a policy's change in one direction can change anything:
    every endpoint when its selection or isolation changes (or it is new), else those that
    the peers of its added, removed or changed rules match, before or after."""
    if previous is None or previous.namespace != policy.namespace \
            or previous.pod_selector != policy.pod_selector \
            or previous.isolates(direction) != policy.isolates(direction):
        return network.all
    old_rules, new_rules = previous.rules(direction), policy.rules(direction)
    bits = 0
    for i in range(max(len(old_rules), len(new_rules))):
        old_rule = old_rules[i] if i < len(old_rules) else None
        new_rule = new_rules[i] if i < len(new_rules) else None
        if old_rule == new_rule:
            continue
        if old_rule is not None:
            bits |= network.rule_peer_bits(previous, old_rule)
        if new_rule is not None:
            bits |= after.rule_peer_bits(policy, new_rule)
    return bits


def _side_differs(before: NetworkPolicy, after: NetworkPolicy, direction: str) -> bool:
    """Whether one direction of a policy decides differently: selection, isolation, rules.
    (Selection is compared as a selector: the same pods are selected in the same network.)"""
    return (before.namespace != after.namespace or before.pod_selector != after.pod_selector
            or before.isolates(direction) != after.isolates(direction)
            or before.rules(direction) != after.rules(direction))


def network_with(network: Network, new_policies: Sequence[NetworkPolicy],
                 namespaces: Mapping[str, Namespace] | None = None) -> Network:
    """`network` as it would be with other policies (and namespaces): same endpoints,
    stand-ins included, so that indices stay comparable."""
    if namespaces is None:
        return network.with_policies(new_policies)
    inventory = network.inventory
    changed_inventory = Inventory(
        namespaces=dict(namespaces),
        workloads=inventory.workloads, services=inventory.services,
        policies=list(new_policies), cilium_policies=inventory.cilium_policies,
        admin_policies=inventory.admin_policies, cilium=inventory.cilium)
    extra = tuple(network.endpoints[len(inventory.workloads):])
    return Network(changed_inventory, extra_endpoints=extra,
                   host_network_as_pods=network.host_network_as_pods, cni=network.cni)


def _relabelled(network: Network, namespaces: Mapping[str, Namespace]
                ) -> dict[str, tuple[Mapping[str, str], Mapping[str, str]]]:
    """Namespaces whose labels differ, with their labels (before, after)."""
    inventory = network.inventory
    changed = {}
    for name in set(namespaces) | set(inventory.namespaces):
        before = inventory.namespace(name).labels
        now = namespaces[name].labels if name in namespaces else before
        if before != now:
            changed[name] = (before, now)
    return changed


def _reads_changed_labels(policy: NetworkPolicy, direction: str,
                          relabelled: Mapping[str, tuple[Mapping[str, str], Mapping[str, str]]]
                          ) -> bool:
    """Whether a namespaceSelector of the policy's rules in one direction matches a
    relabelled namespace differently than before."""
    return any(peer.namespace_selector is not None
               and peer.namespace_selector.matches(before)
               != peer.namespace_selector.matches(now)
               for rule in policy.rules(direction) for peer in rule.peers
               for before, now in relabelled.values())


def unique_flows(flows: list[Flow]) -> list[Flow]:
    """Each flow once, sorted by source, destination, protocol and port."""
    return sorted(set(flows), key=lambda f: (f.source, f.destination, f.protocol or "",
                                             f.port or 0))
