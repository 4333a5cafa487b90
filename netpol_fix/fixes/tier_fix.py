"""Fixes that edit an admin or Cilium policy (AdminNetworkPolicy, BaselineAdminNetworkPolicy,
CiliumNetworkPolicy), and the flows they open, computed by the engine: the patched object
is re-parsed with the inventory's own parser, a network with it is built on the same
endpoints, and the egress rows of the endpoints it governs are compared."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from netpol_fix.engine.network import Network, iter_bits
from netpol_fix.fixes.effect import flows_between, unique_flows
from netpol_fix.inventory.admin_policies import parse_admin_policy
from netpol_fix.inventory.cilium_policies import parse_cilium_policy
from netpol_fix.model.admin_policy import AdminPolicy
from netpol_fix.model.cilium_policy import CiliumPolicy
from netpol_fix.model.findings import Flow, Patch
from netpol_fix.model.objects import endpoint_ref


def patched_network(network: Network, policy: AdminPolicy | CiliumPolicy,
                    operations: list[dict[str, Any]]) -> Network:
    """The network with one admin or Cilium policy patched (same endpoints, stand-ins
    included, so indices compare)."""
    import jsonpatch

    assert policy.source is not None
    obj = jsonpatch.apply_patch(copy.deepcopy(policy.source.obj), operations)
    inventory = network.inventory
    if isinstance(policy, AdminPolicy):
        new_admin = parse_admin_policy(obj, policy.source)
        changed = replace(inventory, admin_policies=[
            new_admin if p is policy else p for p in inventory.admin_policies])
    else:
        new_cilium, _warnings = parse_cilium_policy(obj, policy.source)
        changed = replace(inventory, cilium=[
            new_cilium if p is policy else p for p in inventory.cilium])
    extra = tuple(network.endpoints[len(inventory.workloads):])
    return Network(changed, extra_endpoints=extra,
                   host_network_as_pods=network.host_network_as_pods, cni=network.cni)


def egress_flows_opened(network: Network, after: Network, sources: int) -> list[Flow]:
    """Flows from `sources` (bits) that `after` allows and `network` denies, when only
    their egress changed (the destinations' ingress is the same in both)."""
    flows: list[Flow] = []
    everyone = network.all
    for i in iter_bits(sources):
        before_row = network.side_conns(i, "Egress", everyone)
        after_row = after.side_conns(i, "Egress", everyone)
        src = endpoint_ref(network.endpoints[i])
        for j, now in after_row.items():
            if j == i:
                continue
            gained = now - before_row.get(j, now)
            if not gained:
                continue
            gained = gained & network.ingress_conns(i, j)
            flows += flows_between(before_row[j], before_row[j] | gained, src,
                                   endpoint_ref(network.endpoints[j]))
    return unique_flows(flows)


def patch_for(policy: AdminPolicy | CiliumPolicy, operations: list[dict[str, Any]]) -> Patch:
    return Patch(policy.ref, operations, policy.source)
