"""The narrowest CiliumNetworkPolicy admitting ICMP echo for one flow (`explain --fix`).

Under Cilium a NetworkPolicy cannot allow ICMP once a rule names ports ("If any layer 4
policy is specified, then ICMP will be blocked unless it's related to a connection that is
otherwise allowed", Cilium policy language), so the fix is a CiliumNetworkPolicy with an
`icmps` rule (echo request: IPv4 type 8, IPv6 type 128, numbers for older Cilium) on each
side that denies: ingress of the destination from the source, egress of the source to the
destination, each endpoint pinned by its namespace and all its pod labels.
"""

from __future__ import annotations

from typing import Any

from netpol_fix.fixes.cilium_rules import PEERS
from netpol_fix.model.cilium_policy import POD_NAMESPACE
from netpol_fix.model.objects import Workload

ECHO_REQUESTS = [{"fields": [{"type": 8, "family": "IPv4"}, {"type": 128, "family": "IPv6"}]}]


def endpoint_of(workload: Workload) -> dict[str, Any]:
    """A Cilium endpoint selector for exactly this workload's pods."""
    labels = dict(sorted(workload.labels.items()))
    labels[POD_NAMESPACE] = workload.namespace
    return {"matchLabels": dict(sorted(labels.items()))}


def icmp_flow_policy(own: Workload, peer: Workload, direction: str) -> dict[str, Any]:
    """`<own>-allow-icmp-ingress` (from the peer) or `-egress` (to the peer)."""
    selector = {"matchLabels": dict(sorted(own.labels.items()))}
    rule = {PEERS[direction]: [endpoint_of(peer)], "icmps": [dict(f) for f in ECHO_REQUESTS]}
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": f"{own.name}-allow-icmp-{direction.lower()}",
                     "namespace": own.namespace},
        "spec": {"endpointSelector": selector, direction.lower(): [rule]},
    }
