"""`explain --fix` where only CiliumNetworkPolicies isolate the sides that deny a flow.

fixes/flow.py writes the narrowest NetworkPolicy rules for one flow; a side that no
NetworkPolicy isolates but a Cilium rule set does (Cilium's "Endpoint default policy": a
rule set with rules for a direction puts its endpoints in default deny for it) gets its
allow rule in Cilium's kind instead, the way one-sided-allow fixes it
(rules/cilium_gap_fix.py): the peer pinned by its namespace (`k8s:io.kubernetes.pod.
namespace`) and all its pod labels, the asked port and protocol, appended to the
isolating rule set when it selects only this workload and its endpointSelector names it,
else in a new CiliumNetworkPolicy for the workload. A side an admin Deny or a Cilium deny
rule drops gets no fix: an allow would open nothing there.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from netpol_fix.engine.network import Network
from netpol_fix.engine.tier_overriding import overriding_denied
from netpol_fix.engine.verdict import Query, Verdict
from netpol_fix.fixes.cilium_icmp import endpoint_of
from netpol_fix.fixes.cilium_rules import PEERS, parse_cilium_rules
from netpol_fix.fixes.label_roles import LabelRoles
from netpol_fix.model.findings import Fix
from netpol_fix.rules.cilium_gap_fix import cilium_gap_fix
from netpol_fix.rules.cilium_side import cilium_edit_for
from netpol_fix.rules.one_sided_allow import NewRule


def _to_ports(query: Query) -> list[dict[str, Any]]:
    """`toPorts` for the asked port; without one, port "0": every port of the protocol
    (Cilium's PortProtocol: "0" is the wildcard, l4.go PortProtocolAny)."""
    port = "0" if query.port is None else str(query.port)
    return [{"ports": [{"port": port, "protocol": query.protocol}]}]


def cilium_flow_fix(net: Network, verdict: Verdict, source: int, destination: int,
                    query: Query) -> Fix | None:
    """The Cilium rule admitting source -> destination on the query's port, when the one
    denying side is isolated by Cilium rule sets and no NetworkPolicy; else None (the
    NetworkPolicy path, fixes/flow.py, or no fix offered)."""
    if net.tiers is None or query.protocol not in ("TCP", "UDP", "SCTP"):
        return None  # (ICMP under Cilium: cli/explain's icmps fix)
    sides = [("Ingress", destination, source)] if not verdict.ingress.allowed else []
    sides += [("Egress", source, destination)] if not verdict.egress.allowed else []
    if len(sides) != 1:
        return None  # (both sides deny: one side's rule alone opens nothing, not computed)
    direction, own, peer = sides[0]
    if net.policies_for(own, direction):
        return None  # a NetworkPolicy isolates this side: fixes/flow.py's case
    dropped, _deciding = overriding_denied(net, own, direction, peer)
    if dropped:
        return None  # an admin Deny or a Cilium deny rule decides first
    edit = cilium_edit_for(net, own, direction)
    if edit is None:
        return None  # denied by an admin tier or the baseline: no Cilium rule admits it
    other = net.endpoints[peer]
    rule: dict[str, Any] = {PEERS[direction]: [endpoint_of(other)], "toPorts": _to_ports(query)}
    parsed = parse_cilium_rules(edit.namespace or "default", direction, [rule])[0]
    new = NewRule(json.dumps(rule, sort_keys=True), rule, None,
                  json.dumps(rule["toPorts"], sort_keys=True), parsed)
    fix = cilium_gap_fix(net, edit, direction, {own: {"rule": new}}, other.key, set(),
                         LabelRoles(net.endpoints), None)
    if fix is None:
        return None
    return replace(fix, description=fix.description.replace(
        " on the ports the other side allows", f" on {query.describe()}"))
