"""cilium-cidr-selects-pods: CIDR rules aimed at pod addresses, which Cilium never matches.

Cilium identifies in-cluster endpoints by their labels (security identity), not by address:
`toCIDR`/`fromCIDR` (and a NetworkPolicy `ipBlock`, which Cilium translates to the same
thing) only ever match endpoints outside the cluster. A CIDR written to reach pods therefore
allows (or, in a deny rule, blocks) nothing for them, silently.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from netpol_fix.model.findings import NONE, WARNING, Finding
from netpol_fix.model.objects import SourceObject, Workload, endpoint_ref
from netpol_fix.model.policy import IPBlock, NetworkPolicy
from netpol_fix.rules.base import Rule, RuleDoc
from netpol_fix.rules.cilium import IPNetwork, cidr_entries, cilium_ref
from netpol_fix.rules.context import Context, suppressed


def overlaps_outside_excepts(block: IPBlock, network: IPNetwork) -> bool:
    """Whether `block` (its CIDR minus its excepts) shares any address with `network`."""
    lo, hi = int(network.network_address), int(network.broadcast_address)
    return any(a <= hi and lo <= b for a, b in block.intervals(network.version))


def pods_inside(block: IPBlock, workloads: Iterable[Workload]) -> list[Workload]:
    """Workloads with at least one pod IP inside the block."""
    found = []
    for workload in workloads:
        for text in workload.ips:
            try:
                address = ipaddress.ip_address(text)
            except ValueError:
                continue
            if block.contains(address):
                found.append(workload)
                break
    return found


class CiliumCidrSelectsPods(Rule):
    id = "cilium-cidr-selects-pods"
    severity = WARNING
    applicability = NONE
    summary = ("Cilium CIDR rule (or, under Cilium, a NetworkPolicy ipBlock) aimed at pod "
               "addresses, which CIDR rules never match")
    doc = RuleDoc(
        why=(
            "Cilium decides by security identity: pods and other cluster endpoints are "
            "matched by labels, and `toCIDR`, `fromCIDR`, `toCIDRSet` and `fromCIDRSet` only "
            "match addresses outside the cluster (the `world` identity and CIDR identities). "
            "A CIDR that contains the pod CIDR or pod addresses therefore does not allow "
            "traffic with those pods, and in `egressDeny`/`ingressDeny` does not block it. "
            "A NetworkPolicy `ipBlock` is translated to the same CIDR rule, so under Cilium "
            "an ipBlock never matches pods either, unlike on most other CNIs."),
        example=(
            "kind: CiliumNetworkPolicy\nspec:\n  endpointSelector: {matchLabels: {app: web}}\n"
            "  egress:\n  - toCIDR: [10.0.0.0/8]   # the pod CIDR is 10.0.0.0/16"),
        fix=(
            "No automatic fix: which pods were meant is a guess. Select them by labels "
            "instead: `toEndpoints`/`fromEndpoints` with a `matchLabels` (add "
            "`k8s:io.kubernetes.pod.namespace: NS` for another namespace), or "
            "`toEntities: [cluster]` for every endpoint of the cluster; in a NetworkPolicy, "
            "a podSelector/namespaceSelector peer."),
        unsafe="There is no fix to apply; the advice widens nothing by itself.",
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        pod_cidr = ipaddress.ip_network(ctx.settings.pod_cidr, strict=False) \
            if ctx.settings.pod_cidr else None
        workloads = [w for w in ctx.inventory.workloads if w.ips and not w.host_network]
        findings = []
        for source in ctx.inventory.cilium_policies:
            if not suppressed(self.id, source):
                finding = self._cilium_finding(source, pod_cidr, workloads)
                if finding is not None:
                    findings.append(finding)
        if ctx.settings.cni == "cilium":
            for policy in ctx.inventory.policies:
                if not suppressed(self.id, policy.source):
                    finding = self._ip_block_finding(ctx, policy, pod_cidr, workloads)
                    if finding is not None:
                        findings.append(finding)
        return findings

    def _problems(self, block: IPBlock, label: str, pod_cidr: IPNetwork | None,
                  workloads: list[Workload]) -> tuple[str | None, list[Workload]]:
        reasons = []
        if pod_cidr is not None and overlaps_outside_excepts(block, pod_cidr):
            reasons.append(f"overlaps the pod CIDR {pod_cidr}")
        inside = pods_inside(block, workloads)
        if inside:
            names = ", ".join(w.key for w in inside[:5]) + (" ..." if len(inside) > 5 else "")
            reasons.append(f"contains the addresses of pods of {names}")
        if not reasons:
            return None, []
        return f"{label} " + " and ".join(reasons), inside

    def _cilium_finding(self, source: SourceObject, pod_cidr: IPNetwork | None,
                        workloads: list[Workload]) -> Finding | None:
        problems: list[str] = []
        affected: list[str] = []
        deny = False
        for entry in cidr_entries(source):
            text, inside = self._problems(IPBlock(entry.cidr, entry.excepts),
                                          f"{entry.section} {entry}", pod_cidr, workloads)
            if text is not None:
                problems.append(text)
                deny = deny or entry.section.endswith("Deny")
                affected += [endpoint_ref(w) for w in inside if endpoint_ref(w) not in affected]
        if not problems:
            return None
        ref = cilium_ref(source)
        effect = ("neither allows nor denies traffic with pods" if deny
                  else "does not allow traffic with pods")
        message = (f"{ref.kind} {ref.name}: " + "; ".join(problems) + f". Cilium CIDR rules "
                   f"only match addresses outside the cluster, so this {effect}; select the "
                   "pods by labels (toEndpoints/fromEndpoints) instead")
        return Finding(self.id, self.severity, ref, source, message, affected)

    def _ip_block_finding(self, ctx: Context, policy: NetworkPolicy,
                          pod_cidr: IPNetwork | None, workloads: list[Workload]) -> Finding | None:
        problems: list[str] = []
        for direction in ("Ingress", "Egress"):
            for rule in policy.rules(direction):
                for peer in rule.peers:
                    if peer.ip_block is None:
                        continue
                    text, _ = self._problems(peer.ip_block,
                                             f"{rule.label} peer #{peer.index + 1} ipBlock "
                                             f"{peer.ip_block}", pod_cidr, workloads)
                    if text is not None:
                        problems.append(text)
        if not problems:
            return None
        affected = [endpoint_ref(ctx.network.endpoints[i]) for i in ctx.selected_endpoints(policy)]
        message = (f"NetworkPolicy {policy.key}: " + "; ".join(problems) + ". Under Cilium an "
                   "ipBlock only matches addresses outside the cluster, never pods, so the "
                   "pods in that range are not admitted; use a podSelector/namespaceSelector "
                   "peer for them")
        return Finding(self.id, self.severity, policy.ref, policy.source, message, affected)
