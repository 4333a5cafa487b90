"""The narrowest patch that admits exactly one flow (`explain --fix`).

For each side that denies the connection, one rule: the peer is pinned by namespace name
and every label of the peer's pods (or the single address), and the port is the one asked
about. It is appended to a policy that isolates that side when that policy selects only
this endpoint and its podSelector names the workload; otherwise (a namespace's
default-deny, even with one workload in it today) a new policy selecting the endpoint by
all its labels carries the rule instead. Nothing broader: the
`opens` list, computed from the engine, shows that only this flow (and its twins: pods with
the same labels) gains access.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from netpol_fix.engine.network import Network, iter_bits
from netpol_fix.engine.verdict import Query, Verdict
from netpol_fix.fixes.append import append_rules_operations
from netpol_fix.fixes.effect import flows_opened, patched_policies
from netpol_fix.fixes.label_roles import LabelRoles
from netpol_fix.fixes.new_policy import workload_policy
from netpol_fix.inventory.build import NAME_LABEL
from netpol_fix.inventory.policies import parse_network_policy
from netpol_fix.model.findings import UNSAFE, Fix, NewObject, Patch
from netpol_fix.model.objects import Workload
from netpol_fix.model.policy import NetworkPolicy

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _peer(endpoint: Workload | IPNetwork) -> dict[str, Any]:
    if isinstance(endpoint, Workload):
        return {"namespaceSelector": {"matchLabels": {NAME_LABEL: endpoint.namespace}},
                "podSelector": {"matchLabels": dict(sorted(endpoint.labels.items()))}
                if endpoint.labels else {}}
    return {"ipBlock": {"cidr": str(endpoint)}}


def _ports(query: Query) -> list[dict[str, Any]] | None:
    if query.protocol not in ("TCP", "UDP", "SCTP"):
        return None  # NetworkPolicy cannot name ICMP: only a rule without ports admits it
    if query.port is None:
        return [{"protocol": query.protocol}]
    return [{"port": query.port, "protocol": query.protocol}]


def policy_to_edit(network: Network, index: int, direction: str) -> NetworkPolicy:
    """A policy already isolating the pod: one with rules for the direction and a specific
    podSelector first, so the namespace's default-deny stays a pure deny."""
    return min(network.policies_for(index, direction),
               key=lambda p: (not p.rules(direction), p.pod_selector.is_empty, p.key))


def narrowest_fix(network: Network, verdict: Verdict, source: int | IPNetwork,
                  destination: int | IPNetwork, query: Query,
                  dns: list[dict[str, Any]] | None = None,
                  dns_covers_egress: bool = False) -> Fix | None:
    """Patches admitting exactly source -> destination on the query's port, or None.
    `dns`: the DNS egress rules the source lacks (see MissingDnsEgress.lacking), added to
    the same egress edit: a connection made by name needs its lookup first.
    `dns_covers_egress`: the flow is itself a DNS lookup that `dns` admits (an observed
    drop to the DNS pods), so no egress rule pinned to that one DNS pod is added."""
    if verdict.allowed and not dns:
        return None  # (allowed but the lookup denied: the DNS rule alone, below)
    patches: list[Patch] = []
    endpoints = network.endpoints
    src = endpoints[source] if isinstance(source, int) else source
    dst = endpoints[destination] if isinstance(destination, int) else destination
    sides: list[tuple[str, int, list[dict[str, Any]]]] = []
    ports = _ports(query)
    if not verdict.ingress.allowed and isinstance(destination, int):
        sides.append(("Ingress", destination, [_rule("Ingress", src, ports)]))
    egress = [_rule("Egress", dst, ports)] \
        if not verdict.egress.allowed and not (dns and dns_covers_egress) else []
    if isinstance(source, int) and (egress or dns):
        sides.append(("Egress", source, egress + list(dns or ())))
    created: list[NetworkPolicy] = []
    creates: list[NewObject] = []
    for direction, own, rules in sides:
        if not network.policies_for(own, direction):
            # denied by another tier (an admin or Cilium policy, engine/tiers.py): a
            # NetworkPolicy edit cannot admit it
            return None
        policy = policy_to_edit(network, own, direction)
        if policy.source is None:
            return None
        new = _own_policy(network, policy, own, direction, rules)
        if new is not None:
            created.append(parse_network_policy(new, policy.namespace))
            creates.append(NewObject(new, after=policy.source))
            continue
        patches.append(Patch(policy.ref, append_rules_operations(policy, direction, rules),
                             policy.source))
    if not patches and not creates:
        return None
    opens = flows_opened(network, patched_policies(network.inventory, patches, created))
    what = f"{query.describe()} from {verdict.source} to {verdict.destination}"
    also = " and the DNS lookups the source cannot make" if dns else ""
    return Fix(UNSAFE, f"add the narrowest rule(s) admitting {what}{also}", patches, creates,
               opens)


def _rule(direction: str, peer: Workload | IPNetwork,
          ports: list[dict[str, Any]] | None) -> dict[str, Any]:
    rule: dict[str, Any] = {("from" if direction == "Ingress" else "to"): [_peer(peer)]}
    if ports is not None:
        rule["ports"] = ports
    return rule


def _own_policy(network: Network, policy: NetworkPolicy, own: int, direction: str,
                rules: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A new policy for the endpoint alone unless `policy` reaches only it, now and later:
    it selects no other pod and its podSelector names the workload (fixes/label_roles.py). A
    namespace's default-deny (`podSelector: {}`) selects every future pod of the namespace
    even when one workload lives there today, so the rule never goes there. None (append)
    when appending is as narrow, when the endpoint has no labels to select it by, or when a
    policy by its labels would select pods nothing isolates yet (it would isolate them)."""
    endpoint = network.endpoints[own]
    confined = not network.selected(policy) & ~(1 << own) \
        and LabelRoles(network.endpoints).names_workload(policy.pod_selector)
    if confined or endpoint.representative or not endpoint.labels:
        return None
    new = workload_policy(network, endpoint, direction, rules)
    selected = network.selected(parse_network_policy(new, endpoint.namespace))
    if any(not network.isolated(i, direction) for i in iter_bits(selected)):
        return None
    return new
