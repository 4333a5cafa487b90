"""What a fix opens, computed rather than asserted: connectivity before and after.

The patched objects are re-parsed with the same parser the analysis uses, a second Network
is built with the same endpoints, and every pair whose source or destination any changed
policy selects (before or after) is compared. The differences are the flows that the fix
opens and those it closes, which findings and pull requests state.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import jsonpatch

from netpol_fix.engine.connset import ALL_PORTS, PROTOCOLS, ConnSet, iter_ranges
from netpol_fix.engine.network import Network, iter_bits
from netpol_fix.engine.policy import DIRECTIONS, NetworkPolicy, parse_network_policy
from netpol_fix.inventory.build import Inventory
from netpol_fix.inventory.model import Namespace
from netpol_fix.rules.base import Flow, Patch
from netpol_fix.rules.context import endpoint_ref


def patched_policies(inventory: Inventory, patches: Sequence[Patch],
                     created: Sequence[NetworkPolicy] = ()) -> list[NetworkPolicy]:
    """The inventory's policies with the patches applied (NetworkPolicy patches only)."""
    by_key = {(p.object.namespace, p.object.name): p for p in patches
              if p.object.kind == "NetworkPolicy"}
    result = []
    for policy in inventory.policies:
        patch = by_key.get((policy.namespace, policy.name))
        if patch is None or policy.source is None:
            result.append(policy)
            continue
        obj = jsonpatch.apply_patch(copy.deepcopy(policy.source.obj), patch.operations)
        result.append(parse_network_policy(obj, policy.namespace, policy.source))
    return result + list(created)


def flows_between(before: ConnSet, after: ConnSet, src: str, dst: str) -> list[Flow]:
    """Flows in `after` and not in `before`, one per protocol port range."""
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
    return flows


def flows_opened(network: Network, new_policies: Sequence[NetworkPolicy]) -> list[Flow]:
    """Flows allowed with `new_policies` that `network` (the current state) denies."""
    return flow_changes(network, new_policies)[0]


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
    egress. When namespaces change, also those of every policy with a namespaceSelector peer,
    since only those peers read namespace labels. A policy whose patch changes no decision
    (policyTypes written as the API defaults them) touches nothing.
    """
    old = {p.key: p for p in network.inventory.policies}
    # Endpoints whose receiving side (ingress) or sending side (egress) may change.
    sides = {"Ingress": 0, "Egress": 0}
    for policy in new_policies:
        previous = old.get(policy.key)
        if previous is policy:
            if namespaces is not None and _reads_namespace_labels(policy):
                for direction in DIRECTIONS:
                    sides[direction] |= network.selected(policy)
            continue
        for direction in DIRECTIONS:
            if previous is None or _side_differs(previous, policy, direction):
                sides[direction] |= network.selected(policy)
                if previous is not None:
                    sides[direction] |= network.selected(previous)
    if not sides["Ingress"] and not sides["Egress"]:
        return [], []
    after = network_with(network, new_policies, namespaces)
    pairs = {(j, i) for i in iter_bits(sides["Ingress"]) for j in range(network.size)}
    pairs |= {(i, j) for i in iter_bits(sides["Egress"]) for j in range(network.size)}
    opened: list[Flow] = []
    closed: list[Flow] = []
    refs = [endpoint_ref(e) for e in network.endpoints]
    ingress_side, egress_side = sides["Ingress"], sides["Egress"]
    for s, d in pairs:
        if s == d:
            continue
        # A side that cannot have changed is read once, from the current network.
        in_before = network.ingress_conns(s, d)
        in_now = after.ingress_conns(s, d) if ingress_side >> d & 1 else in_before
        out_before = network.egress_conns(s, d)
        out_now = after.egress_conns(s, d) if egress_side >> s & 1 else out_before
        if in_now == in_before and out_now == out_before:
            continue
        before = in_before & out_before
        now = in_now & out_now
        opened.extend(flows_between(before, now, refs[s], refs[d]))
        closed.extend(flows_between(now, before, refs[s], refs[d]))
    return _unique(opened), _unique(closed)


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
    inventory = network.inventory
    changed_inventory = Inventory(
        namespaces=dict(namespaces) if namespaces is not None else inventory.namespaces,
        workloads=inventory.workloads, services=inventory.services,
        policies=list(new_policies), cilium_policies=inventory.cilium_policies)
    extra = tuple(network.endpoints[len(inventory.workloads):])
    return Network(changed_inventory, extra_endpoints=extra,
                   host_network_as_pods=network.host_network_as_pods)


def _reads_namespace_labels(policy: NetworkPolicy) -> bool:
    return any(peer.namespace_selector is not None
               for rule in (*policy.ingress, *policy.egress) for peer in rule.peers)


def _unique(flows: list[Flow]) -> list[Flow]:
    return sorted(set(flows), key=lambda f: (f.source, f.destination, f.protocol or "",
                                             f.port or 0))
